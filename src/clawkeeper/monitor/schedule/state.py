"""Per-job schedule state in the monitor's SQLite file (component "schedule").

`handled_until` is the scheduler's bookmark: every slot at or before it was run, skipped or passed
over, so the next run is the first slot after it. Keeping it across restarts is what makes
catch-up work: a keeper that starts and finds a slot between the bookmark and now missed it while
it was down, and runs the job once. The other columns describe the last run for `schedule list`,
the live view and the `job_*` metrics. Updates touch only their own columns, so a manual
`schedule run` in another process and the keeper never overwrite each other's facts.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.effects.proc import pid_alive
from clawkeeper.monitor.db import connect, ensure_schema

COMPONENT = "schedule"

# Each entry moves the schema from index to index+1. Never edit a released entry; append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE schedule_jobs (
        job TEXT PRIMARY KEY,
        handled_until REAL,
        last_slot REAL,
        last_trigger TEXT,
        last_start REAL,
        last_end REAL,
        last_outcome TEXT,
        last_exit_code INTEGER,
        last_error TEXT,
        last_run_id INTEGER,
        last_duration REAL,
        last_success REAL,
        running_since REAL,
        running_pid INTEGER,
        running_host TEXT,
        skips INTEGER NOT NULL DEFAULT 0,
        last_skip REAL,
        last_skip_reason TEXT
    );
    CREATE TABLE schedule_outcomes (
        job TEXT NOT NULL,
        outcome TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (job, outcome)
    );
    """,
)


@dataclass
class JobState:
    job: str
    handled_until: float | None = None
    last_slot: float | None = None
    last_trigger: str | None = None  # schedule | catch-up | manual
    last_start: float | None = None
    last_end: float | None = None
    last_outcome: str | None = None  # ok | failed | interrupted | abandoned
    last_exit_code: int | None = None
    last_error: str | None = None
    last_run_id: int | None = None  # the ledger run "schedule <job>"
    last_duration: float | None = None
    last_success: float | None = None
    running_since: float | None = None
    running_pid: int | None = None
    running_host: str | None = None
    skips: int = 0
    last_skip: float | None = None
    last_skip_reason: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # runs by outcome, since the file began

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "job"}


_COLUMNS = tuple(name for name in JobState.__dataclass_fields__ if name not in ("job", "counts"))


class ScheduleState:
    """Reads and writes the schedule tables. Safe to share between threads of one process."""

    def __init__(self, conn: sqlite3.Connection, *, writable: bool) -> None:
        self._conn = conn
        self._writable = writable
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> ScheduleState:
        conn = connect(path)
        ensure_schema(conn, COMPONENT, MIGRATIONS)
        return cls(conn, writable=True)

    @classmethod
    def open_readonly(cls, path: Path) -> ScheduleState | None:
        """The state for display, or None when there is no monitor database (or no schedule) yet."""
        if not path.exists():
            return None
        conn = connect(path, readonly=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schedule_jobs" not in tables:
            conn.close()
            return None
        return cls(conn, writable=False)

    def close(self) -> None:
        self._conn.close()

    # --- reading ---------------------------------------------------------------------------

    def load(self) -> dict[str, JobState]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM schedule_jobs").fetchall()
            counts = self._conn.execute("SELECT job, outcome, count FROM schedule_outcomes").fetchall()
        states = {row["job"]: JobState(job=row["job"], **{c: row[c] for c in _COLUMNS}) for row in rows}
        for row in counts:
            states.setdefault(row["job"], JobState(job=row["job"])).counts[row["outcome"]] = int(row["count"])
        return states

    # --- writing ---------------------------------------------------------------------------

    def _update(self, job: str, **values: Any) -> None:
        if not self._writable:
            raise RuntimeError("the schedule state was opened read-only")
        unknown = set(values) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown schedule state columns {sorted(unknown)}")
        names = sorted(values)
        # column names come from the dataclass above, never from input
        assignments = ", ".join(f"{n} = excluded.{n}" for n in names)
        sql = (
            f"INSERT INTO schedule_jobs (job, {', '.join(names)}) "  # noqa: S608
            f"VALUES (?{', ?' * len(names)}) ON CONFLICT(job) DO UPDATE SET {assignments}"
        )
        with self._lock, self._conn:
            self._conn.execute(sql, (job, *(values[n] for n in names)))

    def set_handled(self, job: str, until: float) -> None:
        self._update(job, handled_until=until)

    def mark_started(
        self, job: str, *, start: float, slot: float | None, trigger: str, run_id: int, pid: int
    ) -> None:
        self._update(
            job,
            last_slot=slot,
            last_trigger=trigger,
            last_start=start,
            last_end=None,
            last_outcome="running",
            last_exit_code=None,
            last_error=None,
            last_run_id=run_id,
            last_duration=None,
            running_since=start,
            running_pid=pid,
            running_host=socket.gethostname(),
        )

    def mark_finished(
        self,
        job: str,
        *,
        end: float,
        outcome: str,
        exit_code: int,
        error: str | None,
        duration: float,
    ) -> None:
        values: dict[str, Any] = {
            "last_end": end,
            "last_outcome": outcome,
            "last_exit_code": exit_code,
            "last_error": error,
            "last_duration": duration,
            "running_since": None,
            "running_pid": None,
            "running_host": None,
        }
        if outcome == "ok":
            values["last_success"] = end
        self._update(job, **values)

    def mark_skipped(self, job: str, *, at: float, reason: str) -> None:
        if not self._writable:
            raise RuntimeError("the schedule state was opened read-only")
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO schedule_jobs (job, skips, last_skip, last_skip_reason) VALUES (?, 1, ?, ?) "
                "ON CONFLICT(job) DO UPDATE SET skips = skips + 1, last_skip = excluded.last_skip, "
                "last_skip_reason = excluded.last_skip_reason",
                (job, at, reason),
            )

    def count(self, job: str, outcome: str) -> None:
        """Add one to the job's runs with `outcome` (the job_runs_total counter)."""
        if not self._writable:
            raise RuntimeError("the schedule state was opened read-only")
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO schedule_outcomes (job, outcome, count) VALUES (?, ?, 1) "
                "ON CONFLICT(job, outcome) DO UPDATE SET count = count + 1",
                (job, outcome),
            )

    def reconcile(self, own_pid: int) -> list[str]:
        """Runs marked running by a process of this host that is gone end as `abandoned`."""
        host = socket.gethostname()
        gone = [
            s.job
            for s in self.load().values()
            if s.running_since is not None
            and s.running_host == host
            and s.running_pid is not None
            and s.running_pid != own_pid
            and not pid_alive(s.running_pid)
        ]
        for job in gone:
            self._update(
                job,
                last_outcome="abandoned",
                last_error="the process running it ended without recording an outcome",
                running_since=None,
                running_pid=None,
                running_host=None,
            )
        return gone
