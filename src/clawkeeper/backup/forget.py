"""Forgetting snapshots by policy: deletes snapshot objects only; `prune` reclaims their data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from clawkeeper.backup.repository import Repository
from clawkeeper.backup.retention import Decision, RetentionPolicy, SnapshotInfo, apply_policy
from clawkeeper.backup.snapshots import list_snapshots


@dataclass
class ForgetResult:
    policy: str
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]

    @property
    def forgotten(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "dry_run": self.dry_run,
            "keep": [
                {
                    "id": d.snapshot.id,
                    "time": d.snapshot.time.isoformat(),
                    "group": d.group,
                    "reasons": d.reasons,
                }
                for d in self.kept
            ],
            "forget": [
                {"id": d.snapshot.id, "time": d.snapshot.time.isoformat(), "group": d.group}
                for d in self.forgotten
            ],
            "removed": self.removed,
        }


def forget_snapshots(
    repo: Repository,
    policy: RetentionPolicy,
    *,
    group_by: Sequence[str] = ("host", "paths"),
    dry_run: bool = False,
    tz: tzinfo = UTC,
) -> ForgetResult:
    infos = [
        SnapshotInfo(s.id, s.datetime, s.hostname, tuple(s.paths), tuple(s.tags))
        for s in list_snapshots(repo)
    ]
    decisions = apply_policy(infos, policy, group_by=group_by, tz=tz)
    result = ForgetResult(policy=policy.describe(), dry_run=dry_run, decisions=decisions)
    if not dry_run:
        for decision in result.forgotten:
            repo.target.delete(f"snapshots/{decision.snapshot.id}")
            result.removed.append(decision.snapshot.id)
    return result
