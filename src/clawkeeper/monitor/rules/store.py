"""Alert state in the monitor database, so a restart neither loses nor re-sends alerts.

Tables (component `alerts`, migrated by `monitor.db.ensure_schema`):
- `alert_instances`: every pending or firing instance with its `active_since`, `fired_at`,
  `cleared_since` and flapping mark — what Prometheus keeps in `ALERTS_FOR_STATE`, and more;
- `alert_transitions`: a bounded history of state changes (`alerts history`, `alerts explain`,
  and the flap counter after a restart);
- `rule_status`: each rule's last evaluation (values per label set, threshold, why not firing);
- `alert_meta`: when the rules were last evaluated (to measure how long the keeper was down);
- `silences`.

The daemon writes (one transaction per evaluation); the CLI opens the file read-only and sees an
empty state until the keeper has evaluated rules once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clawkeeper.errors import LedgerError
from clawkeeper.monitor.db import connect, ensure_schema, schema_version
from clawkeeper.monitor.model import AlertState, Labels
from clawkeeper.monitor.rules.records import RuleStatus, SeriesOutcome, StoredInstance, Transition
from clawkeeper.monitor.rules.silences import SilenceStore
from clawkeeper.monitor.rules.transitions import InstanceState

COMPONENT = "alerts"
HISTORY_LIMIT = 20_000  # transitions kept; older ones are pruned

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE alert_instances (
        fingerprint      TEXT PRIMARY KEY,
        rule             TEXT NOT NULL,
        labels_json      TEXT NOT NULL,
        series_json      TEXT NOT NULL,
        state            TEXT NOT NULL,
        active_since     REAL NOT NULL,
        fired_at         REAL,
        cleared_since    REAL,
        flapping         INTEGER NOT NULL DEFAULT 0,
        value            REAL,
        annotations_json TEXT NOT NULL DEFAULT '{}',
        updated_at       REAL NOT NULL
    );
    CREATE TABLE alert_transitions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          REAL NOT NULL,
        rule        TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        labels_json TEXT NOT NULL,
        from_state  TEXT NOT NULL,
        to_state    TEXT NOT NULL,
        value       REAL,
        note        TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX alert_transitions_by_rule ON alert_transitions (rule, at);
    CREATE INDEX alert_transitions_by_at ON alert_transitions (at);
    CREATE TABLE rule_status (
        rule         TEXT PRIMARY KEY,
        evaluated_at REAL NOT NULL,
        duration_s   REAL NOT NULL,
        error        TEXT,
        series_json  TEXT NOT NULL
    );
    CREATE TABLE alert_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE silences (
        id            TEXT PRIMARY KEY,
        matchers_json TEXT NOT NULL,
        starts_at     REAL NOT NULL,
        ends_at       REAL NOT NULL,
        reason        TEXT NOT NULL,
        created_by    TEXT NOT NULL,
        created_at    REAL NOT NULL,
        expired_at    REAL
    );
    """,
)


@dataclass(frozen=True)
class LoadedState:
    instances: tuple[StoredInstance, ...]
    last_evaluation_at: float | None
    recent_changes: dict[str, list[float]]  # fingerprint -> times it started firing or resolved


class AlertStateStore:
    """Alert instances, transitions, rule status and silences in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, *, readonly: bool = False) -> None:
        self._conn = conn
        self._readonly = readonly
        if not readonly:
            ensure_schema(conn, COMPONENT, MIGRATIONS)
        else:
            version = schema_version(conn, COMPONENT)
            if version > len(MIGRATIONS):
                raise LedgerError(
                    f"the monitor database's alert tables are version {version}, newer than this "
                    f"clawkeeper knows ({len(MIGRATIONS)})",
                    hint="upgrade clawkeeper",
                )
        self.silences = SilenceStore(conn, ready=self.ready)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> AlertStateStore:
        return cls(connect(path, readonly=readonly), readonly=readonly)

    def close(self) -> None:
        self._conn.close()

    def ready(self) -> bool:
        """Do the tables exist? (A read-only view of a database the keeper never wrote: no.)"""
        return not self._readonly or schema_version(self._conn, COMPONENT) > 0

    # --- what the engine loads and saves ---------------------------------------------------------

    def load(self, *, flap_window: float) -> LoadedState:
        last = self.last_evaluation_at()
        changes: dict[str, list[float]] = {}
        if last is not None and self.ready():
            rows = self._conn.execute(
                "SELECT fingerprint, at FROM alert_transitions WHERE at > ? AND to_state IN (?, ?) "
                "ORDER BY at",
                (last - flap_window, AlertState.FIRING.value, AlertState.RESOLVED.value),
            ).fetchall()
            for row in rows:
                changes.setdefault(row["fingerprint"], []).append(float(row["at"]))
        return LoadedState(tuple(self.instances()), last, changes)

    def save(
        self,
        at: float,
        instances: Sequence[StoredInstance],
        transitions: Sequence[Transition],
        statuses: Sequence[RuleStatus],
    ) -> None:
        """Replace the instance table with `instances` and append `transitions`, in one transaction."""
        with self._conn:
            self._conn.execute("DELETE FROM alert_instances")
            self._conn.executemany(
                "INSERT INTO alert_instances (fingerprint, rule, labels_json, series_json, state, "
                "active_since, fired_at, cleared_since, flapping, value, annotations_json, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.fingerprint,
                        i.rule,
                        _labels_json(i.labels),
                        _labels_json(i.series_labels),
                        i.state.state.value,
                        i.state.active_since,
                        i.state.fired_at,
                        i.state.cleared_since,
                        int(i.state.flapping),
                        i.value,
                        json.dumps(dict(i.annotations), sort_keys=True),
                        i.updated_at,
                    )
                    for i in instances
                ],
            )
            self._conn.executemany(
                "INSERT INTO alert_transitions (at, rule, fingerprint, labels_json, from_state, to_state, "
                "value, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.at,
                        t.rule,
                        t.fingerprint,
                        _labels_json(t.labels),
                        t.from_state.value,
                        t.to_state.value,
                        t.value,
                        t.note,
                    )
                    for t in transitions
                ],
            )
            self._conn.executemany(
                "INSERT INTO rule_status (rule, evaluated_at, duration_s, error, series_json) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(rule) DO UPDATE SET "
                "evaluated_at = excluded.evaluated_at, duration_s = excluded.duration_s, "
                "error = excluded.error, series_json = excluded.series_json",
                [
                    (
                        s.rule,
                        s.evaluated_at,
                        s.duration_s,
                        s.error,
                        json.dumps([o.to_json() for o in s.series]),
                    )
                    for s in statuses
                ],
            )
            self._conn.execute(
                "INSERT INTO alert_meta (key, value) VALUES ('last_evaluation_at', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (repr(at),),
            )
            if transitions:
                self._conn.execute(
                    "DELETE FROM alert_transitions WHERE id <= (SELECT max(id) FROM alert_transitions) - ?",
                    (HISTORY_LIMIT,),
                )

    def forget_rules(self, keep: Sequence[str]) -> None:
        """Drop the status of rules that no longer exist (after a config change)."""
        with self._conn:
            marks = ",".join("?" for _ in keep) or "''"
            self._conn.execute(f"DELETE FROM rule_status WHERE rule NOT IN ({marks})", tuple(keep))  # noqa: S608

    # --- what the CLI reads ----------------------------------------------------------------------

    def last_evaluation_at(self) -> float | None:
        if not self.ready():
            return None
        row = self._conn.execute("SELECT value FROM alert_meta WHERE key = 'last_evaluation_at'").fetchone()
        return float(row["value"]) if row else None

    def instances(self) -> list[StoredInstance]:
        if not self.ready():
            return []
        rows = self._conn.execute("SELECT * FROM alert_instances ORDER BY rule, labels_json").fetchall()
        return [_instance(row) for row in rows]

    def transitions(
        self,
        *,
        rule: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Transition]:
        """Newest first."""
        if not self.ready():
            return []
        where: list[str] = []
        params: list[str | float] = []
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._conn.execute(
            f"SELECT * FROM alert_transitions {clause} ORDER BY at DESC, id DESC LIMIT ?",  # noqa: S608
            (*params, limit),
        ).fetchall()
        return [_transition(row) for row in rows]

    def statuses(self) -> dict[str, RuleStatus]:
        if not self.ready():
            return {}
        rows = self._conn.execute("SELECT * FROM rule_status").fetchall()
        return {
            row["rule"]: RuleStatus(
                rule=row["rule"],
                evaluated_at=float(row["evaluated_at"]),
                duration_s=float(row["duration_s"]),
                error=row["error"],
                series=tuple(SeriesOutcome.from_json(item) for item in json.loads(row["series_json"])),
            )
            for row in rows
        }


def _labels_json(labels: Labels) -> str:
    return json.dumps(dict(labels), sort_keys=True)


def _labels(text: str) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in json.loads(text).items()))


def _instance(row: sqlite3.Row) -> StoredInstance:
    state = InstanceState(
        state=AlertState(row["state"]),
        active_since=float(row["active_since"]),
        fired_at=row["fired_at"],
        cleared_since=row["cleared_since"],
        flapping=bool(row["flapping"]),
    )
    annotations = tuple(sorted(json.loads(row["annotations_json"]).items()))
    return StoredInstance(
        fingerprint=row["fingerprint"],
        rule=row["rule"],
        labels=_labels(row["labels_json"]),
        series_labels=_labels(row["series_json"]),
        state=state,
        value=row["value"],
        annotations=annotations,
        updated_at=float(row["updated_at"]),
    )


def _transition(row: sqlite3.Row) -> Transition:
    return Transition(
        at=float(row["at"]),
        rule=row["rule"],
        fingerprint=row["fingerprint"],
        labels=_labels(row["labels_json"]),
        from_state=AlertState(row["from_state"]),
        to_state=AlertState(row["to_state"]),
        value=row["value"],
        note=row["note"],
    )
