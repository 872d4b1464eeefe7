"""`backup`: how old the newest backup, and the newest *verified* backup, are — for the RPO alert.

Read from clawkeeper's ledger, where every `clawkeeper backup create` / `backup verify` run is
recorded (by hand, or by the keeper's schedule): the last successful create that was not a dry
run, and the last successful verify. A backup counts as verified when a verify that succeeded
started after the backup finished — the verify read the repository the backup was in — so
`backup_last_verified_*` is about the data that is proven restorable, which is what an RPO is
about. The number of snapshots is counted in the repository (`backup.repo`; listing needs no key).

Never backed up (or never verified): the timestamp is 0 — Prometheus' convention for "never" —
and the age is the time since the Unix epoch, so `BackupRpoMissed` fires at once instead of the
series being absent. Backups made with OpenClaw's own `openclaw backup` are not in the ledger and
do not count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clawkeeper.backup.repository import read_config
from clawkeeper.backup.settings import BackupSettings
from clawkeeper.backup.targets import open_target
from clawkeeper.errors import ClawkeeperError
from clawkeeper.ledger import Ledger, RunRecord
from clawkeeper.monitor.collectors.base import CollectorError, gauge, info
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

RUNS_LOOKED_AT = 500

METRICS: tuple[MetricInfo, ...] = (
    info(
        "backup_last_success_timestamp_seconds",
        "When the newest successful backup finished (0: never).",
        unit="seconds",
    ),
    info("backup_last_success_age_seconds", "Seconds since the newest successful backup.", unit="seconds"),
    info(
        "backup_last_verified_timestamp_seconds",
        "When the newest backup that a later successful verify covered finished (0: never).",
        unit="seconds",
    ),
    info("backup_last_verified_age_seconds", "Seconds since the newest verified backup.", unit="seconds"),
    info("backup_snapshots", "Snapshots in the backup repository."),
)


@dataclass(frozen=True)
class BackupFacts:
    last_success: float | None  # Unix time the newest ok create finished
    last_verify: float | None  # Unix time the newest ok verify started
    last_verified: float | None  # newest ok create that finished before that verify started


def _ts(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _real_backup(run: RunRecord) -> bool:
    return run.outcome == "ok" and not run.args.get("dry_run")


def backup_facts(creates: Sequence[RunRecord], verifies: Sequence[RunRecord]) -> BackupFacts:
    """From ledger runs (any order) to the three facts (pure)."""
    finished = sorted(t for r in creates if _real_backup(r) and (t := _ts(r.ended_at)) is not None)
    verify_starts = [t for r in verifies if r.outcome == "ok" and (t := _ts(r.started_at)) is not None]
    last_verify = max(verify_starts) if verify_starts else None
    verified = [t for t in finished if last_verify is not None and t <= last_verify]
    return BackupFacts(
        last_success=finished[-1] if finished else None,
        last_verify=last_verify,
        last_verified=verified[-1] if verified else None,
    )


def count_snapshots(settings: BackupSettings) -> int:
    if settings.repo is None:
        raise CollectorError("no backup repository configured (backup.repo)")
    target = open_target(settings.repo, settings)
    try:
        read_config(target)  # NotFound when no repository is there (say, an unmounted disk)
        return len(target.list("snapshots"))
    finally:
        target.close()


class BackupCollector:
    name = "backup"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(
        self,
        ledger_path: Path,
        backup: BackupSettings,
        *,
        snapshots: Callable[[BackupSettings], int] = count_snapshots,
    ) -> None:
        self._ledger_path = ledger_path
        self._backup = backup
        self._snapshots = snapshots
        self.snapshot_error: str | None = None

    def collect(self, ctx: CollectContext) -> list[Sample]:
        now = ctx.now
        with Ledger(self._ledger_path) as ledger:
            creates = ledger.recent_runs(limit=RUNS_LOOKED_AT, command="backup create")
            verifies = ledger.recent_runs(limit=RUNS_LOOKED_AT, command="backup verify")
        facts = backup_facts(creates, verifies)
        out: list[Sample] = []
        latest = (("backup_last_success", facts.last_success), ("backup_last_verified", facts.last_verified))
        for prefix, when in latest:
            stamp = when or 0.0
            out.append(gauge(f"{prefix}_timestamp_seconds", stamp, now))
            out.append(gauge(f"{prefix}_age_seconds", max(0.0, now - stamp), now))
        if self._backup.repo is not None:
            # an unreachable repository (unmounted disk) leaves only this series without news; the
            # ages above still come from the ledger
            try:
                out.append(gauge("backup_snapshots", self._snapshots(self._backup), now))
                self.snapshot_error = None
            except (ClawkeeperError, OSError) as exc:
                self.snapshot_error = str(exc)
        return out
