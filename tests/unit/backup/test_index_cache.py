"""Backups keep their master index between runs: the next backup reads only the newer index
files, and a kept copy that a prune outdated, or that does not match its MAC, is never used."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.backup import index_cache
from clawkeeper.backup.create import BackupOptions, create_snapshot
from clawkeeper.backup.marks import load_marks, marked_packs
from clawkeeper.backup.prune import PruneOptions, prune_repository
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.tree import split_ids

from .conftest import reopen


def _folder(tmp_path: Path, name: str, files: int = 3) -> Path:
    path = tmp_path / name
    path.mkdir()
    for i in range(files):
        (path / f"{name}-{i}.bin").write_bytes(os.urandom(40_000))
    return path


class _Reads:
    """Which index files a repository decrypts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        real = Repository.get_object

        def spy(repo: Repository, kind: str, name: str, aad: bytes) -> Any:
            if kind == "index":
                self.names.append(name)
            return real(repo, kind, name, aad)

        monkeypatch.setattr(Repository, "get_object", spy)


def _backup(repo_path: Path, source: Path, kept: Path) -> str:
    options = BackupOptions(index_cache=kept)
    return create_snapshot(reopen(repo_path), plain_sources([source]), options).snapshot.id


def _content_ids(repo: Repository, snapshot_id: str) -> list[bytes]:
    entries = iter_tree(repo, load_snapshot(repo, snapshot_id), files_only=True)
    return [blob_id for entry in entries for blob_id in split_ids(entry.chunks)]


def test_the_next_backup_starts_from_the_kept_index_and_reads_only_newer_index_files(
    repo: Repository, repo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = tmp_path / "cache"
    first = _backup(repo_path, _folder(tmp_path, "a"), kept)
    second = _backup(repo_path, _folder(tmp_path, "b"), kept)
    assert oct(kept.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in kept.iterdir())
    stale, fresh_tmp = kept / ".x.sqlite.abc.tmp", kept / ".x.json.def.tmp"  # of killed backups
    stale.write_bytes(b"half")
    fresh_tmp.write_bytes(b"half")
    os.utime(stale, (1, 1))
    _backup(repo_path, _folder(tmp_path, "b2"), kept)
    assert not stale.exists() and fresh_tmp.exists()  # a running backup's may be fresh
    kept_file = next(kept.glob("*.sqlite"))
    before = kept_file.stat()
    _backup(repo_path, tmp_path / "b2", kept)  # stores nothing new: the kept copy stays as it is
    assert (kept_file.stat().st_ino, kept_file.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    extra = create_snapshot(reopen(repo_path), plain_sources([_folder(tmp_path, "c")])).snapshot.id  # unkept

    kept_names = set(json.loads(next(kept.glob("*.json")).read_text())["state"]["index_files"])
    reads = _Reads(monkeypatch)
    fresh = reopen(repo_path).load_index()
    everything = set(reads.names)
    reads.names.clear()
    from_copy = reopen(repo_path).load_index(kept=kept)
    assert set(reads.names) == everything - kept_names != set()  # only the third backup's
    assert from_copy.index_files == fresh.index_files and from_copy.pack_sizes == fresh.pack_sizes
    assert len(from_copy) == len(fresh)
    for snap in (first, second, extra):
        ids = _content_ids(repo, snap)
        assert from_copy.lookup_many(b"".join(ids)) == fresh.lookup_many(b"".join(ids))


def test_a_kept_index_a_prune_outdated_is_not_used(repo: Repository, repo_path: Path, tmp_path: Path) -> None:
    kept = tmp_path / "cache"
    a, b = _folder(tmp_path, "a"), _folder(tmp_path, "b")
    gone = _backup(repo_path, a, kept)
    stays = _backup(repo_path, b, kept)
    gone_ids = _content_ids(repo, gone)
    repo.target.delete(f"snapshots/{gone}")
    prune_repository(reopen(repo_path), PruneOptions(grace_s=0))  # marks a's packs
    marks = marked_packs(load_marks(repo))
    assert marks
    with_marks = reopen(repo_path).load_index(marked=marks, kept=kept)
    assert not with_marks.usable_among(gone_ids)  # marks are read afresh, never kept
    assert with_marks.usable_among(_content_ids(repo, stays))
    prune_repository(reopen(repo_path), PruneOptions(grace_s=0))  # deletes them, rewrites the index
    index = reopen(repo_path).load_index(kept=kept)
    assert all(entry is None for entry in index.lookup_many(b"".join(gone_ids)))  # not taken for stored
    # a backup of the same files stores them again, and they restore
    again = _backup(repo_path, a, kept)
    restore_snapshot(reopen(repo_path), again, RestoreOptions(target=tmp_path / "out"))
    assert (tmp_path / "out" / str(a).lstrip("/") / "a-1.bin").read_bytes() == (a / "a-1.bin").read_bytes()
    assert _backup(repo_path, b, kept) != stays


@pytest.mark.parametrize("damage", ["file byte", "facts", "facts mac", "missing file", "garbage facts"])
def test_a_kept_index_that_does_not_match_its_mac_is_rebuilt(
    repo: Repository, repo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    kept = tmp_path / "cache"
    snap = _backup(repo_path, _folder(tmp_path, "a"), kept)
    db_file = next(kept.glob("*.sqlite"))
    facts_file = next(kept.glob("*.json"))
    if damage == "file byte":
        data = bytearray(db_file.read_bytes())
        data[len(data) // 2] ^= 0x01
        db_file.write_bytes(bytes(data))
    elif damage in ("facts", "facts mac"):
        facts = json.loads(facts_file.read_text())
        if damage == "facts":
            facts["state"]["packs"][0][1] += 1  # a pack size
        else:
            facts["mac"] = "0" * 64
        facts_file.write_text(json.dumps(facts))
    elif damage == "missing file":
        db_file.unlink()
    else:
        facts_file.write_text("{not json")
    reads = _Reads(monkeypatch)
    index = reopen(repo_path).load_index(kept=kept)
    assert reads.names  # every index file read again
    assert all(e is not None for e in index.lookup_many(b"".join(_content_ids(repo, snap))))


def test_a_kept_index_belongs_to_one_repository(tmp_path: Path) -> None:
    from clawkeeper.backup.repository import Credentials, init_repository
    from clawkeeper.backup.targets import LocalTarget

    kept = tmp_path / "cache"
    one = init_repository(LocalTarget(tmp_path / "one"), Credentials(passphrase="pass phrase one"))
    two = init_repository(LocalTarget(tmp_path / "two"), Credentials(passphrase="pass phrase two"))
    source = _folder(tmp_path, "a")
    create_snapshot(one, plain_sources([source]), BackupOptions(index_cache=kept))
    create_snapshot(two, plain_sources([source]), BackupOptions(index_cache=kept))
    assert len(list(kept.glob("*.sqlite"))) == 2
    assert index_cache.load(two, kept, two.list_ids("index"), frozenset()) is not None
    # one repository's copy under the other's name does not pass the other's MAC
    for suffix in (".sqlite", ".json"):
        copied = (kept / f"{one.config.repo_id}{suffix}").read_bytes()
        (kept / f"{two.config.repo_id}{suffix}").write_bytes(copied)
    assert index_cache.load(two, kept, two.list_ids("index") + one.list_ids("index"), frozenset()) is None
