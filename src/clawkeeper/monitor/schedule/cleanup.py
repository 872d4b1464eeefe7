"""The `cleanup` job: prune old ledger runs and tidy the monitor database.

Ledger pruning lives here rather than in `ledger.py` because only the keeper does it: finished
runs that ended before the retention cut-off go, with their steps, except the newest run of every
command (so "when did the last backup run?" always has an answer). Running runs are never touched.
The time-series store ages out its own samples continuously (the keeper calls its maintenance
every minute); this job only asks SQLite to refresh its statistics and checkpoint the WAL.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawkeeper.monitor.schedule.jobs import JobContext, JobFailed

_OLD_STEPS = """
DELETE FROM steps WHERE run_id IN (
    SELECT id FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?
    AND id NOT IN (SELECT MAX(id) FROM runs GROUP BY command)
)
"""
_OLD_RUNS = """
DELETE FROM runs WHERE ended_at IS NOT NULL AND ended_at < ?
AND id NOT IN (SELECT MAX(id) FROM runs GROUP BY command)
"""


def prune_ledger(ledger_path: Path, *, older_than: float) -> int:
    """Delete finished runs that ended before Unix time `older_than`; returns how many went."""
    if not ledger_path.exists():
        return 0
    # the ledger stores UTC ISO-8601 with milliseconds: these compare correctly as text
    cutoff = datetime.fromtimestamp(older_than, UTC).isoformat(timespec="milliseconds")
    try:
        conn = sqlite3.connect(ledger_path, timeout=10.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise JobFailed(f"cannot open the ledger at {ledger_path}: {exc}") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"runs", "steps"} <= tables:
            return 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_OLD_STEPS, (cutoff,))
            removed = conn.execute(_OLD_RUNS, (cutoff,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return max(0, removed)
    except sqlite3.Error as exc:
        raise JobFailed(
            f"pruning the ledger at {ledger_path} failed: {exc}",
            hint="set monitor.schedule.ledger_retention = 0 to keep every run, and report this",
        ) from exc
    finally:
        conn.close()


def tidy_monitor_db(path: Path) -> dict[str, Any]:
    """Refresh the query planner's statistics and checkpoint the WAL (without blocking writers)."""
    from clawkeeper.monitor.db import connect

    if not path.exists():
        return {"skipped": "no monitor database yet"}
    conn = connect(path)
    try:
        conn.execute("PRAGMA optimize")
        busy, wal_pages, moved = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        conn.close()
    return {"wal_pages": wal_pages, "checkpointed_pages": moved, "busy": bool(busy)}


def cleanup_job(
    *,
    ledger_path: Path,
    monitor_db: Path,
    retention_s: float,
    maintenance: Callable[[float], object] | None,
) -> Callable[[JobContext], Mapping[str, Any]]:
    def run(ctx: JobContext) -> Mapping[str, Any]:
        detail: dict[str, Any] = {}
        if retention_s > 0:
            detail["ledger_runs_pruned"] = prune_ledger(ledger_path, older_than=ctx.now - retention_s)
        else:
            detail["ledger_runs_pruned"] = 0
            detail["ledger_retention"] = "keep every run"
        detail["monitor_db"] = tidy_monitor_db(monitor_db)
        if maintenance is not None:
            detail["maintenance"] = _plain(maintenance(ctx.now))
        return detail

    return run


def _plain(value: object) -> object:
    """Something JSON can hold, for the ledger step's detail."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        with contextlib.suppress(TypeError):
            return asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)[:200]
