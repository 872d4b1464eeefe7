"""Silences: "don't notify about alerts matching these labels until then, because ...".

As in Alertmanager, a silence is a set of label matchers with a start, an end, who made it and
why; an alert matched by an active silence is still evaluated and listed, but carries the
silence's id in `silenced_by` and notifiers skip it. End time and reason are required: a silence
nobody can explain, or that never ends, hides the next real outage.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clawkeeper.errors import NotFound, UsageError
from clawkeeper.monitor.model import Labels, Matcher, MatchOp
from clawkeeper.monitor.tsdb.matchers import check_matchers, matches

MAX_SILENCE_S = 366 * 86400.0


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    reason: str
    created_by: str
    created_at: float
    expired_at: float | None = None  # set when expired by hand before `ends_at`

    def active(self, now: float) -> bool:
        return self.expired_at is None and self.starts_at <= now < self.ends_at

    def matches(self, labels: Labels) -> bool:
        return matches(labels, self.matchers)

    def matcher_text(self) -> str:
        return ", ".join(f'{m.label}{m.op.value}"{m.value}"' for m in self.matchers)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "matchers": [{"label": m.label, "op": m.op.value, "value": m.value} for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expired_at": self.expired_at,
        }
        if now is not None:
            out["active"] = self.active(now)
        return out


def check_silence(matchers: Sequence[Matcher], ends_at: float, reason: str, now: float) -> None:
    """Raise UsageError when a silence could not be created as asked."""
    if not matchers:
        raise UsageError("a silence needs at least one matcher", hint="add --match alertname=NAME")
    check_matchers(matchers)
    if all(_matches_everything(m) for m in matchers):
        raise UsageError(
            "these matchers would silence every alert",
            hint="match at least one label with a non-empty value, e.g. --match alertname=NAME",
        )
    if not reason.strip():
        raise UsageError("a silence needs a reason", hint='add --reason "why these alerts can wait"')
    if ends_at <= now:
        raise UsageError(
            "the silence would end in the past", hint="give --for 2h or an --until in the future"
        )
    if ends_at - now > MAX_SILENCE_S:
        raise UsageError(
            "a silence may last at most a year", hint="disable the rule with an override instead"
        )


def _matches_everything(m: Matcher) -> bool:
    return (m.op is MatchOp.RE and m.value in (".*", "")) or (m.op is MatchOp.NE and m.value == "")


class SilenceStore:
    """Silences in the monitor database (the `alerts` tables; see rules/store.py)."""

    def __init__(self, conn: sqlite3.Connection, *, ready: Callable[[], bool]) -> None:
        self._conn = conn
        self._ready = ready

    def add(
        self,
        matchers: Sequence[Matcher],
        ends_at: float,
        reason: str,
        created_by: str,
        *,
        now: float,
        starts_at: float | None = None,
    ) -> str:
        check_silence(matchers, ends_at, reason, now)
        silence_id = secrets.token_hex(4)
        with self._conn:
            self._conn.execute(
                "INSERT INTO silences (id, matchers_json, starts_at, ends_at, reason, created_by, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    silence_id,
                    json.dumps([[m.label, m.op.value, m.value] for m in matchers]),
                    now if starts_at is None else starts_at,
                    ends_at,
                    reason.strip(),
                    created_by,
                    now,
                ),
            )
        return silence_id

    def list(self, *, active_only: bool = False, now: float | None = None) -> list[Silence]:
        if not self._ready():
            return []
        rows = self._conn.execute("SELECT * FROM silences ORDER BY created_at DESC").fetchall()
        found = [_silence(row) for row in rows]
        if active_only:
            if now is None:
                raise ValueError("active_only needs now")
            found = [s for s in found if s.active(now)]
        return found

    def active(self, now: float) -> builtins.list[Silence]:
        return self.list(active_only=True, now=now)

    def get(self, silence_id: str) -> Silence:
        """A silence by its id or a unique prefix of it."""
        matches_ = (
            [s for s in self.list() if s.id.startswith(silence_id.strip().lower())] if silence_id else []
        )
        if len(matches_) != 1:
            why = "no silence" if not matches_ else "more than one silence"
            raise NotFound(
                f"{why} with id {silence_id!r}", hint="list them with `clawkeeper alerts silence list`"
            )
        return matches_[0]

    def expire(self, silence_id: str, *, now: float) -> Silence:
        """End a silence now; returns it as it was. Expiring an ended silence changes nothing."""
        silence = self.get(silence_id)
        if silence.active(now) or (silence.expired_at is None and silence.starts_at > now):
            with self._conn:
                self._conn.execute("UPDATE silences SET expired_at = ? WHERE id = ?", (now, silence.id))
        return silence


def _silence(row: sqlite3.Row) -> Silence:
    matchers = tuple(
        Matcher(label, MatchOp(op), value) for label, op, value in json.loads(row["matchers_json"])
    )
    return Silence(
        id=row["id"],
        matchers=matchers,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expired_at=row["expired_at"],
    )
