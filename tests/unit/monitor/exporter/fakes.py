"""A fake metric store and keeper health for exporter tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clawkeeper.monitor.model import (
    Alert,
    AlertState,
    CollectorStatus,
    Labels,
    Matcher,
    Point,
    Resolution,
    Series,
    labels_of,
)

NOW = 1_700_000_000.0


@dataclass
class FakeReader:
    """`latest` returns the newest point of each series; `fail` makes every read raise."""

    series: dict[str, list[Series]] = field(default_factory=dict)
    fail: bool = False

    def add(
        self, name: str, value: float, *, ts: float = NOW - 5, stale: bool = False, **labels: str
    ) -> None:
        series = Series(name, labels_of(labels), (Point(ts, value),), stale=stale)
        self.series.setdefault(name, []).append(series)

    def names(self) -> list[str]:
        if self.fail:
            raise OSError("database is locked")
        return sorted(self.series)

    def latest(self, name: str, matchers: Sequence[Matcher] = (), *, at: float | None = None) -> list[Series]:
        return list(self.series.get(name, []))

    def range(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution | None = None,
    ) -> list[Series]:
        return list(self.series.get(name, []))


@dataclass
class FakeHealth:
    started_at: float = NOW - 600
    now: float = NOW
    ticks: int = 60
    last_tick: float | None = NOW - 4
    interval_s: float = 10.0
    collectors: list[CollectorStatus] = field(
        default_factory=lambda: [
            CollectorStatus("host", True, NOW - 4, 0.01),
            CollectorStatus("gateway", False, NOW - 4, 0.5, error="refused"),
        ]
    )
    notifications_sent: int = 3
    notification_failures: int = 1
    stopping: bool = False


def alert(name: str, state: AlertState, labels: Labels = (), active_since: float = NOW - 300) -> Alert:
    return Alert(
        name=name,
        labels=labels_of(dict(labels), alertname=name, severity="critical"),
        annotations=(("summary", name),),
        state=state,
        value=1.0,
        active_since=active_since,
        fired_at=active_since + 120 if state is AlertState.FIRING else None,
    )
