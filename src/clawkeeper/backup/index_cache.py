"""A backup's master index, kept between backups of the same repository.

Every command builds its master index (`index_store`) from all the repository's index files:
~75 ms for the 1 GiB benchmark agent and ~0.3 s for a 4 GiB one, most of what a backup that
finds nothing changed spends in the engine. A backup therefore keeps a copy of its index file
when it ends, and the next backup starts from that copy and reads only the index files added
since. The copy is used only when it is exactly what it claims to be:

- `<repo id>.json` records the repository, the index files folded in, the pack-level facts, and
  a MAC (keyed BLAKE3, key derived from the repository's id key) over the copied file and those
  facts. Anything that does not match, or does not parse, and the copy is ignored (rebuilt).
- Every index file folded in must still be in the repository. Index files are named by their
  content and only `prune` deletes them (when it rewrites the index), so a copy made before a
  prune is never used after it: no pruned blob can be taken for stored.
- Marked packs are not part of the copy: each command reads the marks afresh.

Only backups use it; restore, verify and prune read every index file themselves. Concurrent
backups each start from a private copy and the last one to finish leaves its own; the files
are written whole and renamed into place (no fsync: a copy lost to a crash is rebuilt).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3

from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.repository import Repository
from clawkeeper.effects.fs import atomic_write_chunks, atomic_write_text, ensure_dir

VERSION = 1
_KEY_CONTEXT = "clawkeeper 2026-12 backup master index cache v1"


def _key(repo: Repository) -> bytes:
    return blake3.blake3(repo.master.id_key, derive_key_context=_KEY_CONTEXT).digest()


def _paths(folder: Path, repo: Repository) -> tuple[Path, Path]:
    return folder / f"{repo.config.repo_id}.sqlite", folder / f"{repo.config.repo_id}.json"


def _facts_mac(repo: Repository, state: dict[str, Any], file_mac: str) -> str:
    facts = json.dumps({"version": VERSION, "state": state, "file": file_mac}, sort_keys=True)
    return blake3.blake3(facts.encode(), key=_key(repo)).hexdigest()


def load(repo: Repository, folder: Path, names: list[str], marked: frozenset[str]) -> MasterIndex | None:
    """The kept index of `repo` (index files `names` are in the repository now), or None when
    there is none that can be trusted. The caller folds in the index files it lacks."""
    db_path, facts_path = _paths(folder, repo)
    try:
        facts = json.loads(facts_path.read_text(encoding="utf-8"))
        state = facts["state"]
        if facts.get("version") != VERSION or not set(state["index_files"]) <= set(names):
            return None
        if _facts_mac(repo, state, facts["file"]) != facts["mac"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None

    def seed(path: str) -> None:
        mac = blake3.blake3(key=_key(repo))
        with db_path.open("rb") as source, Path(path).open("wb") as copy:
            while chunk := source.read(1024 * 1024):
                mac.update(chunk)
                copy.write(chunk)
        if mac.hexdigest() != facts["file"]:
            raise ValueError("the kept index file does not match its MAC")

    try:
        return MasterIndex.restored(state, seed, marked)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(repo: Repository, folder: Path, index: MasterIndex) -> None:
    """Keep a copy of `index` (every index file it holds must be in the repository), unless the
    copy it started from already holds all of it (a backup that stored nothing new)."""
    if index.restored_files is not None and index.restored_files == set(index.index_files):
        return
    db_path, facts_path = _paths(folder, repo)
    ensure_dir(folder)
    _remove_stale_temporaries(folder)
    mac = blake3.blake3(key=_key(repo))

    def chunks() -> Iterator[bytes]:
        for chunk in index.file_chunks():
            mac.update(chunk)
            yield chunk

    atomic_write_chunks(db_path, chunks(), durable=False)
    state = index.state()
    file_mac = mac.hexdigest()
    facts = {"version": VERSION, "state": state, "file": file_mac, "mac": _facts_mac(repo, state, file_mac)}
    atomic_write_text(facts_path, json.dumps(facts), durable=False)


def _remove_stale_temporaries(folder: Path, older_than_s: float = 3600.0) -> None:
    """Temporary files of saves that a killed backup never finished."""
    cutoff = time.time() - older_than_s
    for path in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
