"""The ledger: a SQLite (WAL) record of everything clawkeeper does.

Each command invocation is a *run*; a run's state-changing actions are *steps*, written with their
intent before they start and their outcome after, so a crash leaves a trail that can be resumed or
rolled back. Later capabilities add their own tables (approvals, snapshots, alerts, findings,
metrics) as new migrations.

Migrations are forward-only and keyed on `PRAGMA user_version`: migration N moves the schema from
N-1 to N inside one transaction. A ledger written by a newer clawkeeper is refused, not guessed at.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawkeeper import __version__
from clawkeeper.effects.fs import ensure_dir
from clawkeeper.effects.proc import pid_alive
from clawkeeper.errors import LedgerError, NotFound

# Each entry moves the schema from index to index+1. Never edit a released entry; append.
MIGRATIONS: tuple[str, ...] = (
    # 1: runs and their steps
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL UNIQUE,
        command TEXT NOT NULL,
        args_json TEXT NOT NULL DEFAULT '{}',
        target TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        exit_code INTEGER,
        error TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        clawkeeper_version TEXT NOT NULL
    );
    CREATE INDEX runs_by_start ON runs(started_at);
    CREATE INDEX runs_by_command ON runs(command, started_at);
    CREATE TABLE steps (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        intent_json TEXT NOT NULL DEFAULT '{}',
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        detail_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX steps_by_run ON steps(run_id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

RUN_OUTCOMES = ("running", "ok", "failed", "error", "interrupted", "abandoned")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StepRecord:
    id: int
    name: str
    intent: dict[str, Any]
    started_at: str
    ended_at: str | None
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class RunRecord:
    id: int
    uuid: str
    command: str
    args: dict[str, Any]
    target: str | None
    started_at: str
    ended_at: str | None
    outcome: str
    exit_code: int | None
    error: str | None
    host: str
    pid: int
    clawkeeper_version: str
    steps: tuple[StepRecord, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        start = datetime.fromisoformat(self.started_at)
        end = datetime.fromisoformat(self.ended_at)
        return (end - start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "command": self.command,
            "args": self.args,
            "target": self.target,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "error": self.error,
            "host": self.host,
            "pid": self.pid,
            "clawkeeper_version": self.clawkeeper_version,
            "steps": [
                {
                    "id": s.id,
                    "name": s.name,
                    "intent": s.intent,
                    "started_at": s.started_at,
                    "ended_at": s.ended_at,
                    "outcome": s.outcome,
                    "detail": s.detail,
                }
                for s in self.steps
            ],
        }


def _connect(path: Path) -> sqlite3.Connection:
    try:
        ensure_dir(path.parent)
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    except (sqlite3.Error, OSError) as exc:
        raise LedgerError(
            f"cannot open the ledger at {path}: {exc}", hint="check ledger.path and its permissions"
        ) from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise LedgerError(
            f"{path} is not a usable SQLite database: {exc}",
            hint="move it aside; clawkeeper creates a new ledger on the next run",
        ) from exc
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> tuple[int, int]:
    """Bring the schema up to len(migrations). Returns (version before, version after)."""
    target = len(migrations)
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if current > target:
            raise LedgerError(
                f"the ledger has schema {current}, newer than this clawkeeper understands ({target})",
                hint="upgrade clawkeeper, or point ledger.path at another file",
            )
        for version in range(current + 1, target + 1):
            for statement in _statements(migrations[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return current, target


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit our transaction).

    Splits at semicolons, joining pieces until SQLite says the statement is complete, so a
    semicolon inside a string or trigger body does not split it.
    """
    out: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \n\t;"):
        out.append(buffer.strip())
    return out


class Ledger:
    """The ledger of one machine. Safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect(path)
        try:
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise LedgerError(f"cannot migrate the ledger at {path}: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # runs -----------------------------------------------------------------------------------
    def start_run(self, command: str, args: Mapping[str, Any], *, target: str | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO runs (uuid, command, args_json, target, started_at, host, pid, clawkeeper_version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(uuid.uuid4()),
                command,
                json.dumps(dict(args), sort_keys=True, default=str),
                target,
                utcnow(),
                socket.gethostname(),
                os.getpid(),
                __version__,
            ),
        )
        return int(cur.lastrowid or 0)

    def set_run_target(self, run_id: int, target: str) -> None:
        self._conn.execute("UPDATE runs SET target = ? WHERE id = ?", (target, run_id))

    def finish_run(self, run_id: int, *, outcome: str, exit_code: int, error: str | None = None) -> None:
        if outcome not in RUN_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome}")
        self._conn.execute(
            "UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ?, error = ? WHERE id = ?",
            (utcnow(), outcome, exit_code, error, run_id),
        )

    # steps ----------------------------------------------------------------------------------
    def start_step(self, run_id: int, name: str, intent: Mapping[str, Any] | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO steps (run_id, name, intent_json, started_at) VALUES (?, ?, ?, ?)",
            (run_id, name, json.dumps(dict(intent or {}), sort_keys=True, default=str), utcnow()),
        )
        return int(cur.lastrowid or 0)

    def finish_step(self, step_id: int, *, outcome: str, detail: Mapping[str, Any] | None = None) -> None:
        self._conn.execute(
            "UPDATE steps SET ended_at = ?, outcome = ?, detail_json = ? WHERE id = ?",
            (utcnow(), outcome, json.dumps(dict(detail or {}), sort_keys=True, default=str), step_id),
        )

    @contextlib.contextmanager
    def step(
        self, run_id: int, name: str, intent: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Record intent, run the block, record the outcome. The yielded dict becomes the detail."""
        step_id = self.start_step(run_id, name, intent)
        detail: dict[str, Any] = {}
        try:
            yield detail
        except BaseException as exc:
            detail.setdefault("error", str(exc) or type(exc).__name__)
            self.finish_step(step_id, outcome="failed", detail=detail)
            raise
        self.finish_step(step_id, outcome="ok", detail=detail)

    # queries --------------------------------------------------------------------------------
    def recent_runs(self, *, limit: int = 20, command: str | None = None) -> list[RunRecord]:
        if command:
            rows = self._conn.execute(
                "SELECT * FROM runs WHERE command = ? OR command LIKE ? ORDER BY id DESC LIMIT ?",
                (command, f"{command} %", limit),
            ).fetchall()
        else:
            rows = self._conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._record(row, with_steps=False) for row in rows]

    def get_run(self, run_id: int) -> RunRecord:
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id} in the ledger", hint="`clawkeeper history` lists run ids")
        return self._record(row, with_steps=True)

    def _record(self, row: sqlite3.Row, *, with_steps: bool) -> RunRecord:
        outcome = row["outcome"]
        # A run still marked running whose process is gone was killed: show it as abandoned.
        if (
            outcome == "running"
            and row["host"] == socket.gethostname()
            and row["pid"] != os.getpid()
            and not pid_alive(int(row["pid"]))
        ):
            outcome = "abandoned"
        steps: tuple[StepRecord, ...] = ()
        if with_steps:
            steps = tuple(
                StepRecord(
                    id=s["id"],
                    name=s["name"],
                    intent=json.loads(s["intent_json"]),
                    started_at=s["started_at"],
                    ended_at=s["ended_at"],
                    outcome=s["outcome"],
                    detail=json.loads(s["detail_json"]),
                )
                for s in self._conn.execute(
                    "SELECT * FROM steps WHERE run_id = ? ORDER BY id", (row["id"],)
                ).fetchall()
            )
        return RunRecord(
            id=row["id"],
            uuid=row["uuid"],
            command=row["command"],
            args=json.loads(row["args_json"]),
            target=row["target"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            outcome=outcome,
            exit_code=row["exit_code"],
            error=row["error"],
            host=row["host"],
            pid=row["pid"],
            clawkeeper_version=row["clawkeeper_version"],
            steps=steps,
        )
