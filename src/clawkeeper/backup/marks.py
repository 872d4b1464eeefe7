"""Prune marks: the first phase of two-phase garbage collection.

A prune never deletes what it has just found unused. It writes a mark listing those packs; a
later prune deletes them only if the mark is older than the grace period, no backup that started
before the mark is still running, and no snapshot has come to need them since. Backups load the
marks when they start and never dedup against a marked pack, so a snapshot written after a mark
never depends on a pack the mark may delete.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.backup.repository import MARK_AAD, Repository
from clawkeeper.backup.targets.base import ObjectMissing
from clawkeeper.errors import IntegrityError


@dataclass
class PruneMark:
    created_at: float
    packs: list[str]
    host: str = field(default_factory=socket.gethostname)
    reason: dict[str, int] = field(default_factory=dict)  # counts: unused, orphaned, repacked
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"created_at": self.created_at, "packs": self.packs, "host": self.host, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Any, mark_id: str) -> PruneMark:
        try:
            return cls(
                created_at=float(data["created_at"]),
                packs=[str(p) for p in data["packs"]],
                host=str(data.get("host", "")),
                reason={str(k): int(v) for k, v in dict(data.get("reason", {})).items()},
                id=mark_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"prune mark {mark_id[:8]} is malformed: {exc}") from exc


def write_mark(repo: Repository, packs: list[str], reason: dict[str, int]) -> PruneMark:
    mark = PruneMark(created_at=time.time(), packs=sorted(packs), reason=reason)
    mark.id = repo.put_json("marks", MARK_AAD, mark.to_json())
    return mark


def load_marks(repo: Repository, unreadable: list[str] | None = None) -> list[PruneMark]:
    """All readable marks. A mark that does not read is skipped (its id appended to `unreadable`):
    no prune can act on it either, so ignoring it never lets a pack be deleted."""
    out: list[PruneMark] = []
    for mark_id in repo.list_ids("marks"):
        try:
            out.append(PruneMark.from_json(repo.get_json("marks", mark_id, MARK_AAD), mark_id))
        except ObjectMissing:
            continue  # swept while we listed
        except IntegrityError:
            if unreadable is not None:
                unreadable.append(mark_id)
    return out


def marked_packs(marks: list[PruneMark]) -> frozenset[str]:
    return frozenset(pack for mark in marks for pack in mark.packs)
