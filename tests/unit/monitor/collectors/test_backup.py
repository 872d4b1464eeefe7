"""Backup age and verified-backup age from the ledger; the snapshot count from the repository."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.backup.settings import BackupSettings
from clawkeeper.errors import NotFound
from clawkeeper.ledger import Ledger, RunRecord
from clawkeeper.monitor.collectors.backup import BackupCollector, backup_facts
from tests.unit.monitor.collectors.helpers import ctx, value


def iso(hour: int) -> str:
    return datetime(2026, 11, 22, hour, tzinfo=UTC).isoformat()


def ts(hour: int) -> float:
    return datetime(2026, 11, 22, hour, tzinfo=UTC).timestamp()


def run(command: str, start: int, end: int | None, outcome: str = "ok", **args: Any) -> RunRecord:
    return RunRecord(
        id=start,
        uuid=f"u{start}",
        command=command,
        args=args,
        target=None,
        started_at=iso(start),
        ended_at=iso(end) if end is not None else None,
        outcome=outcome,
        exit_code=0 if outcome == "ok" else 1,
        error=None,
        host="h",
        pid=1,
        clawkeeper_version="0",
    )


@pytest.mark.parametrize(
    ("creates", "verifies", "success", "verified"),
    [
        ([], [], None, None),
        ([run("backup create", 1, 2)], [], ts(2), None),
        ([run("backup create", 1, 2)], [run("backup verify", 3, 4)], ts(2), ts(2)),
        # the newest backup came after the last verify: only the older one is proven
        (
            [run("backup create", 1, 2), run("backup create", 5, 6)],
            [run("backup verify", 3, 4)],
            ts(6),
            ts(2),
        ),
        # a failed verify proves nothing; a failed or dry-run create is no backup
        ([run("backup create", 1, 2)], [run("backup verify", 3, 4, outcome="failed")], ts(2), None),
        (
            [run("backup create", 1, 2, outcome="failed"), run("backup create", 3, 4, dry_run=True)],
            [],
            None,
            None,
        ),
        # a verify that started before the backup finished did not see it
        ([run("backup create", 1, 5)], [run("backup verify", 3, 6)], ts(5), None),
    ],
)
def test_backup_facts(
    creates: list[RunRecord], verifies: list[RunRecord], success: float | None, verified: float | None
) -> None:
    facts = backup_facts(creates, verifies)
    assert (facts.last_success, facts.last_verified) == (success, verified)


def record(ledger: Ledger, command: str, outcome: str = "ok", **args: Any) -> None:
    run_id = ledger.start_run(command, args)
    ledger.finish_run(run_id, outcome=outcome, exit_code=0 if outcome == "ok" else 1)


def test_never_backed_up_reads_as_timestamp_0_so_the_rpo_alert_fires(tmp_path: Path) -> None:
    collector = BackupCollector(tmp_path / "ledger.sqlite", BackupSettings())
    samples = collector.collect(ctx(now=1_800_000_000.0))
    assert value(samples, "backup_last_verified_timestamp_seconds") == 0
    assert value(samples, "backup_last_verified_age_seconds") == 1_800_000_000.0  # > any RPO
    assert value(samples, "backup_last_success_age_seconds") == 1_800_000_000.0
    assert value(samples, "backup_snapshots") is None  # no repository configured


def test_ages_from_the_ledger_and_the_snapshot_count(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    with Ledger(ledger_path) as ledger:
        record(ledger, "backup create", repo=None, dry_run=False)
        record(ledger, "backup verify", read_data=False, sample="10%")
        record(ledger, "backup create", dry_run=True)
    collector = BackupCollector(
        ledger_path, BackupSettings(repo=str(tmp_path / "repo")), snapshots=lambda _s: 7
    )
    now = datetime.now(UTC).timestamp() + 60
    samples = collector.collect(ctx(now=now))
    verified = value(samples, "backup_last_verified_timestamp_seconds") or 0
    assert verified == value(samples, "backup_last_success_timestamp_seconds")
    assert 0 < now - verified < 3600
    assert value(samples, "backup_last_verified_age_seconds") == pytest.approx(now - verified)
    assert value(samples, "backup_snapshots") == 7


def test_an_unreachable_repository_keeps_the_ages(tmp_path: Path) -> None:
    def gone(_settings: BackupSettings) -> int:
        raise NotFound("no backup repository at /mnt/usb/backups")

    collector = BackupCollector(
        tmp_path / "ledger.sqlite", BackupSettings(repo="/mnt/usb/backups"), snapshots=gone
    )
    samples = collector.collect(ctx())
    assert value(samples, "backup_snapshots") is None
    assert value(samples, "backup_last_verified_age_seconds") is not None
    assert collector.snapshot_error is not None and "no backup repository" in collector.snapshot_error
