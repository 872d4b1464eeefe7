"""What changed between two snapshots: added, removed, modified content, changed metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clawkeeper.backup.repository import Repository
from clawkeeper.backup.snapshots import Snapshot, iter_tree, load_snapshot
from clawkeeper.backup.tree import Entry, EntryType


@dataclass(frozen=True)
class Change:
    path: str
    kind: str  # "added", "removed", "modified", "type", "metadata"
    detail: str = ""
    size_before: int | None = None
    size_after: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": "/" + self.path,
            "kind": self.kind,
            "detail": self.detail,
            "size_before": self.size_before,
            "size_after": self.size_after,
        }


@dataclass
class SnapshotDiff:
    before: str
    after: str
    changes: list[Change] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "summary": {k: self.count(k) for k in ("added", "removed", "modified", "type", "metadata")},
            "changes": [c.to_json() for c in self.changes],
        }


def _compare(old: Entry, new: Entry) -> Change | None:
    if old.type is not new.type:
        return Change(new.path, "type", f"{old.type.name.lower()} -> {new.type.name.lower()}")
    if new.type is EntryType.FILE and (old.chunks, old.chunk_lists) != (new.chunks, new.chunk_lists):
        detail = ""
        if old.sqlite and new.sqlite and old.sqlite.get("user_version") != new.sqlite.get("user_version"):
            detail = f"user_version {old.sqlite.get('user_version')} -> {new.sqlite.get('user_version')}"
        return Change(new.path, "modified", detail, old.size, new.size)
    if new.type is EntryType.SYMLINK and old.link_target != new.link_target:
        return Change(new.path, "modified", f"-> {new.link_target}")
    notes = []
    if old.mode != new.mode:
        notes.append(f"mode {old.mode:o} -> {new.mode:o}")
    if (old.uid, old.gid) != (new.uid, new.gid):
        notes.append(f"owner {old.uid}:{old.gid} -> {new.uid}:{new.gid}")
    if notes:
        return Change(new.path, "metadata", ", ".join(notes))
    return None


def diff_snapshots(repo: Repository, before_id: str, after_id: str) -> SnapshotDiff:
    before: Snapshot = load_snapshot(repo, before_id)
    after: Snapshot = load_snapshot(repo, after_id)
    old = {e.path: e for e in iter_tree(repo, before)}
    result = SnapshotDiff(before=before.id, after=after.id)
    seen: set[str] = set()
    for entry in iter_tree(repo, after):
        seen.add(entry.path)
        previous = old.get(entry.path)
        if previous is None:
            result.changes.append(Change(entry.path, "added", size_after=entry.size))
            continue
        change = _compare(previous, entry)
        if change is not None:
            result.changes.append(change)
    for path, entry in old.items():
        if path not in seen:
            result.changes.append(Change(path, "removed", size_before=entry.size))
    result.changes.sort(key=lambda c: c.path)
    return result
