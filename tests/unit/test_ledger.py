from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.errors import ExitCode, LedgerError, NotFound
from clawkeeper.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, migrate


def test_new_ledger_is_wal_at_latest_schema_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.sqlite"
    with Ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (path.stat().st_mode & 0o777) == 0o600


def test_run_lifecycle_and_steps(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        run = ledger.start_run("lab up", {"version": "2026.8.2", "token": "***"}, target="lab:default")
        with ledger.step(run, "install", {"version": "2026.8.2"}) as detail:
            detail["took_s"] = 1.5
        with pytest.raises(RuntimeError), ledger.step(run, "start", {}):
            raise RuntimeError("boom")
        ledger.finish_run(run, outcome="error", exit_code=12, error="gateway did not start")
        record = ledger.get_run(run)
    assert record.command == "lab up"
    assert record.outcome == "error"
    assert record.exit_code == 12
    assert [(s.name, s.outcome) for s in record.steps] == [("install", "ok"), ("start", "failed")]
    assert record.steps[0].detail == {"took_s": 1.5}
    assert record.steps[1].detail["error"] == "boom"
    assert record.duration_s is not None and record.duration_s >= 0


def test_recent_runs_newest_first_and_filter(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        for command in ("status", "lab up", "lab down", "status"):
            rid = ledger.start_run(command, {})
            ledger.finish_run(rid, outcome="ok", exit_code=0)
        runs = ledger.recent_runs(limit=10)
        assert [r.command for r in runs] == ["status", "lab down", "lab up", "status"]
        assert [r.command for r in ledger.recent_runs(command="lab")] == ["lab down", "lab up"]
        assert len(ledger.recent_runs(limit=1)) == 1


def test_run_of_a_dead_process_shows_as_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    code = (
        "import sys; from pathlib import Path; from clawkeeper.ledger import Ledger;"
        f"l = Ledger(Path({str(path)!r})); l.start_run('backup create', {{}}); l.close()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with Ledger(path) as ledger:
        (record,) = ledger.recent_runs()
    assert record.outcome == "abandoned"


def test_unknown_run_is_not_found(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger, pytest.raises(NotFound):
        ledger.get_run(42)


def test_migrations_are_forward_only_and_incremental(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    first = ("CREATE TABLE a (x INTEGER);",)
    assert migrate(conn, first) == (0, 1)
    conn.execute("INSERT INTO a VALUES (7)")
    second = (*first, "ALTER TABLE a ADD COLUMN y TEXT DEFAULT 'n';")
    assert migrate(conn, second) == (1, 2)
    assert conn.execute("SELECT x, y FROM a").fetchall() == [(7, "n")]
    assert migrate(conn, second) == (2, 2)  # idempotent


def test_failed_migration_rolls_back_entirely(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.sqlite", isolation_level=None)
    broken = ("CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert tables == []


def test_ledger_from_a_newer_clawkeeper_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(LedgerError, match="newer than this clawkeeper") as info:
        Ledger(path)
    assert info.value.exit_code == ExitCode.LEDGER


def test_garbage_file_is_a_clear_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(LedgerError, match="not a usable SQLite database"):
        Ledger(path)
