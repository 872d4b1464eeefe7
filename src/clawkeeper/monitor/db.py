"""The monitor's SQLite file (WAL): time series, alert state, silences, notification log, schedule.

Each component owns its tables and migrates them on its own: `ensure_schema(conn, "tsdb", MIGRATIONS)`
applies the component's migrations N..len-1 inside one transaction each and records the version in
`schema_versions`. A file written by a newer clawkeeper (a component version beyond what this build
knows) is refused, not guessed at. Readers (the CLI) and the writer (the daemon) may be different
processes: WAL lets them run together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from clawkeeper.effects.fs import ensure_dir
from clawkeeper.errors import LedgerError

BUSY_TIMEOUT_MS = 5000


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the monitor database (creating it unless `readonly`). Rows come back as sqlite3.Row."""
    if readonly:
        if not path.exists():
            raise LedgerError(
                f"no monitor database at {path}",
                hint="start the keeper with `clawkeeper up` (or check monitor.store.path)",
            )
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
    else:
        ensure_dir(path.parent)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        path.chmod(0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not readonly:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
    return conn


def schema_version(conn: sqlite3.Connection, component: str) -> int:
    try:
        row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def ensure_schema(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Bring `component`'s tables to len(migrations). Returns the version now in place."""
    current = schema_version(conn, component)
    if current > len(migrations):
        raise LedgerError(
            f"the monitor database's {component} tables are version {current}, newer than this "
            f"clawkeeper knows ({len(migrations)})",
            hint="upgrade clawkeeper, or point monitor.store.path at a new file",
        )
    for version in range(current, len(migrations)):
        # executescript takes no parameters; both values are validated above (name) or ints
        record = (
            "INSERT INTO schema_versions(component, version) VALUES "  # noqa: S608
            f"('{_identifier(component)}', {version + 1}) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version;"
        )
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{migrations[version]}\n;\n{record}\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(migrations)


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"component name {name!r} must be alphanumeric")
    return name
