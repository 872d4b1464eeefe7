"""The notification log, the open alert groups and the delivery history, in the monitor database.

Like Alertmanager's nflog, the log remembers per (receiver, group) which alerts were firing and
which resolved at the last successful notification; the dispatcher sends again only when that set
changes or the repeat interval passed. Because the log and the open groups live in the monitor's
SQLite file, a keeper restart neither re-sends what was delivered nor forgets a resolved notice
that is still owed. The history (every attempt, ok or failed) feeds `clawkeeper alerts`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clawkeeper.monitor.db import ensure_schema, schema_version
from clawkeeper.monitor.notify.base import DeliveryResult, NoticeStatus

COMPONENT = "notify"
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE notify_log (
        receiver  TEXT NOT NULL,
        group_key TEXT NOT NULL,
        firing    TEXT NOT NULL,  -- JSON list of fingerprints firing at the last notification
        resolved  TEXT NOT NULL,  -- JSON list of fingerprints resolved at the last notification
        sent_at   REAL NOT NULL,
        PRIMARY KEY (receiver, group_key)
    );
    CREATE TABLE notify_groups (
        group_key  TEXT PRIMARY KEY,
        state      TEXT NOT NULL,  -- JSON: group labels, alerts, timers, retries
        updated_at REAL NOT NULL
    );
    CREATE TABLE notify_deliveries (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        REAL NOT NULL,
        receiver  TEXT NOT NULL,
        group_key TEXT NOT NULL,
        status    TEXT NOT NULL,
        alerts    INTEGER NOT NULL,
        attempt   INTEGER NOT NULL,
        error     TEXT
    );
    CREATE INDEX notify_deliveries_at ON notify_deliveries(at);
    """,
)

HISTORY_ROWS_KEPT = 10_000


@dataclass(frozen=True)
class LogEntry:
    receiver: str
    group_key: str
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


class NotificationLog:
    """Reads everything once at start, then writes each tick's changes in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        ensure_schema(conn, COMPONENT, MIGRATIONS)
        self._conn = conn
        self._entries: dict[tuple[str, str], LogEntry] = {}
        for row in conn.execute("SELECT receiver, group_key, firing, resolved, sent_at FROM notify_log"):
            entry = LogEntry(
                row[0], row[1], frozenset(json.loads(row[2])), frozenset(json.loads(row[3])), float(row[4])
            )
            self._entries[(entry.receiver, entry.group_key)] = entry
        self._dirty: dict[tuple[str, str], LogEntry] = {}

    def entry(self, receiver: str, group_key: str) -> LogEntry | None:
        return self._entries.get((receiver, group_key))

    def record(self, entry: LogEntry) -> None:
        """Remember a notification as done (written at the next `commit`)."""
        key = (entry.receiver, entry.group_key)
        self._entries[key] = entry
        self._dirty[key] = entry

    def load_groups(self) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute("SELECT group_key, state FROM notify_groups").fetchall()
        return {str(row[0]): json.loads(row[1]) for row in rows}

    def commit(
        self,
        *,
        now: float,
        groups: Mapping[str, dict[str, Any]] | None,
        deliveries: Iterable[DeliveryResult],
    ) -> None:
        """Write log entries recorded since the last commit, the delivery attempts and (when not
        None) the complete set of open groups, atomically."""
        history = list(deliveries)
        if not self._dirty and groups is None and not history:
            return
        with self._conn:
            self._conn.executemany(
                "INSERT INTO notify_log(receiver, group_key, firing, resolved, sent_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(receiver, group_key) DO UPDATE SET "
                "firing = excluded.firing, resolved = excluded.resolved, sent_at = excluded.sent_at",
                [
                    (
                        e.receiver,
                        e.group_key,
                        json.dumps(sorted(e.firing)),
                        json.dumps(sorted(e.resolved)),
                        e.sent_at,
                    )
                    for e in self._dirty.values()
                ],
            )
            self._conn.executemany(
                "INSERT INTO notify_deliveries(at, receiver, group_key, status, alerts, attempt, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.at, r.receiver, r.group_key, r.status.value, r.alerts, r.attempt, r.error)
                    for r in history
                ],
            )
            if groups is not None:
                self._conn.execute("DELETE FROM notify_groups")
                self._conn.executemany(
                    "INSERT INTO notify_groups(group_key, state, updated_at) VALUES (?, ?, ?)",
                    [(key, json.dumps(state, sort_keys=True), now) for key, state in groups.items()],
                )
        self._dirty.clear()

    def forget_older_than(self, cutoff_log: float, cutoff_history: float) -> None:
        """Drop log entries not refreshed since `cutoff_log` and history before `cutoff_history`."""
        with self._conn:
            self._conn.execute("DELETE FROM notify_log WHERE sent_at < ?", (cutoff_log,))
            self._conn.execute("DELETE FROM notify_deliveries WHERE at < ?", (cutoff_history,))
            self._conn.execute(
                "DELETE FROM notify_deliveries WHERE id <= "
                "(SELECT id FROM notify_deliveries ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (HISTORY_ROWS_KEPT,),
            )
        self._entries = {k: e for k, e in self._entries.items() if e.sent_at >= cutoff_log}


def delivery_history(
    conn: sqlite3.Connection,
    *,
    limit: int = 50,
    since: float | None = None,
    receiver: str | None = None,
) -> list[DeliveryResult]:
    """The newest delivery attempts first (works on a read-only connection; empty before the keeper
    ever ran notifications)."""
    if schema_version(conn, COMPONENT) == 0:
        return []
    clauses: list[str] = ["1 = 1"]
    params: list[float | str] = []
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if receiver is not None:
        clauses.append("receiver = ?")
        params.append(receiver)
    rows = conn.execute(
        "SELECT at, receiver, group_key, status, alerts, attempt, error FROM notify_deliveries "  # noqa: S608
        f"WHERE {' AND '.join(clauses)} ORDER BY at DESC, id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [
        DeliveryResult(
            receiver=str(row[1]),
            group_key=str(row[2]),
            status=NoticeStatus(row[3]),
            alerts=int(row[4]),
            at=float(row[0]),
            error=row[6],
            attempt=int(row[5]),
        )
        for row in rows
    ]
