"""Snapshot objects: the small sealed record that names a tree and says what was captured.

A snapshot is written last, after the packs and index files holding everything it names, so a
snapshot that exists is complete. Its id is its object name (BLAKE3 of the stored bytes); people
use any unique prefix, or `latest`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clawkeeper.backup.crypto import ID_SIZE
from clawkeeper.backup.packs import BlobKind
from clawkeeper.backup.repository import SNAPSHOT_AAD, BlobCorrupt, Repository
from clawkeeper.backup.targets.base import ObjectMissing
from clawkeeper.backup.tree import LIST_BYTES, Entry, parse_file_entries, parse_lines
from clawkeeper.errors import IntegrityError, NotFound, UsageError

SNAPSHOT_VERSION = 1


@dataclass
class Snapshot:
    time: str  # ISO 8601, UTC
    hostname: str
    username: str
    roots: list[dict[str, str]]  # [{"path": "/home/me/.openclaw", "role": "state_dir"}, ...]
    tree: list[bytes]  # TREE blob ids, in stream order
    parent: str | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    program: str = ""
    id: str = ""  # set when stored or loaded; not part of the stored document

    @property
    def paths(self) -> list[str]:
        return [root["path"] for root in self.roots]

    @property
    def datetime(self) -> datetime:
        return datetime.fromisoformat(self.time)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "time": self.time,
            "hostname": self.hostname,
            "username": self.username,
            "roots": self.roots,
            "tree": [blob.hex() for blob in self.tree],
            "parent": self.parent,
            "tags": self.tags,
            "meta": self.meta,
            "stats": self.stats,
            "warnings": self.warnings,
            "program": self.program,
        }

    @classmethod
    def from_json(cls, data: Any, snapshot_id: str) -> Snapshot:
        try:
            if int(data["version"]) != SNAPSHOT_VERSION:
                raise IntegrityError(f"snapshot {snapshot_id[:8]} has unknown version {data['version']}")
            tree = [bytes.fromhex(h) for h in data["tree"]]
            if any(len(b) != ID_SIZE for b in tree):
                raise ValueError("tree id of the wrong length")
            return cls(
                time=str(data["time"]),
                hostname=str(data["hostname"]),
                username=str(data.get("username", "")),
                roots=[{"path": str(r["path"]), "role": str(r["role"])} for r in data["roots"]],
                tree=tree,
                parent=data.get("parent"),
                tags=[str(t) for t in data.get("tags", [])],
                meta=dict(data.get("meta", {})),
                stats=dict(data.get("stats", {})),
                warnings=[str(w) for w in data.get("warnings", [])],
                program=str(data.get("program", "")),
                id=snapshot_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"snapshot {snapshot_id[:8]} is malformed: {exc}") from exc

    def summary(self) -> dict[str, Any]:
        """The JSON shape `backup list` prints."""
        return {
            "id": self.id,
            "short_id": self.short_id,
            "time": self.time,
            "hostname": self.hostname,
            "paths": self.paths,
            "tags": self.tags,
            "parent": self.parent,
            "openclaw_version": self.meta.get("openclaw_version"),
            "files": self.stats.get("files"),
            "bytes": self.stats.get("bytes"),
            "added_bytes": self.stats.get("added_stored_bytes"),
        }


def save_snapshot(repo: Repository, snapshot: Snapshot) -> str:
    snapshot.id = repo.put_json("snapshots", SNAPSHOT_AAD, snapshot.to_json())
    return snapshot.id


def load_snapshot(repo: Repository, snapshot_id: str) -> Snapshot:
    try:
        data = repo.get_json("snapshots", snapshot_id, SNAPSHOT_AAD)
    except ObjectMissing as exc:
        raise NotFound(
            f"no snapshot {snapshot_id[:8]}", hint="`clawkeeper backup list` shows the ids"
        ) from exc
    return Snapshot.from_json(data, snapshot_id)


def list_snapshots(repo: Repository) -> list[Snapshot]:
    """All snapshots, oldest first. Unreadable ones raise IntegrityError (verify reports them)."""
    out: list[Snapshot] = []
    for snapshot_id in repo.list_ids("snapshots"):
        try:
            out.append(load_snapshot(repo, snapshot_id))
        except NotFound:
            continue  # forgotten between listing and reading
    out.sort(key=lambda s: (s.time, s.id))
    return out


def resolve_snapshot_id(repo: Repository, ref: str) -> str:
    """A full snapshot id from `latest` or a unique prefix."""
    ids = repo.list_ids("snapshots")
    if ref == "latest":
        snapshots = list_snapshots(repo)
        if not snapshots:
            raise NotFound(f"the repository at {repo.location} has no snapshots yet")
        return snapshots[-1].id
    if len(ref) < 4 or any(c not in "0123456789abcdef" for c in ref.lower()):
        raise UsageError(
            f"{ref!r} is not a snapshot id", hint="use `latest` or at least 4 hex digits of an id"
        )
    matches = [i for i in ids if i.startswith(ref.lower())]
    if not matches:
        raise NotFound(f"no snapshot {ref}", hint="`clawkeeper backup list` shows the ids")
    if len(matches) > 1:
        raise UsageError(f"snapshot id {ref} is ambiguous ({len(matches)} match)", hint="give more digits")
    return matches[0]


def tree_pieces(repo: Repository, snapshot: Snapshot) -> Iterator[bytes]:
    """The snapshot's tree stream, one TREE blob at a time. Raises BlobCorrupt on damage."""
    for blob_id in snapshot.tree:
        entry = repo.index.lookup(blob_id)
        if entry is None:
            raise BlobCorrupt(f"tree blob {blob_id.hex()[:12]} of snapshot {snapshot.short_id} is missing")
        if entry.kind is not BlobKind.TREE:
            raise BlobCorrupt(f"blob {blob_id.hex()[:12]} is not a tree blob")
        yield repo.read_blob(blob_id)


def iter_tree(repo: Repository, snapshot: Snapshot, *, files_only: bool = False) -> Iterator[Entry]:
    """The snapshot's entries in path order. Raises BlobCorrupt / TreeFormatError on damage.

    `files_only` yields just the regular files, parsed by the faster path backups use."""
    pieces = tree_pieces(repo, snapshot)
    yield from (parse_file_entries(pieces) if files_only else parse_lines(pieces))


def content_slices(repo: Repository, entry: Entry, step: int = LIST_BYTES) -> Iterator[bytes]:
    """A file's chunk ids (concatenated, in file order) a slice at a time: from its tree line, or
    list blob by list blob (see tree.py). Raises BlobCorrupt when a list blob is missing or
    damaged, or holds another number of ids than the entry says."""
    if not entry.chunk_lists:
        raw = entry.chunks
        for start in range(0, len(raw), step):
            yield raw[start : start + step]
        return
    seen = 0
    lists = entry.chunk_lists
    for start in range(0, len(lists), ID_SIZE):
        ids = bytes(repo.read_blob(lists[start : start + ID_SIZE]))
        if len(ids) % ID_SIZE:
            raise BlobCorrupt(f"the chunk list of /{entry.path} holds a partial id")
        seen += len(ids) // ID_SIZE
        if seen > entry.listed:
            break
        yield ids
    if seen != entry.listed:
        raise BlobCorrupt(
            f"the chunk list of /{entry.path} holds {seen} chunks, its entry says {entry.listed}"
        )
