"""An in-memory MetricReader and a settable clock for the rule tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clawkeeper.monitor.model import Labels, Matcher, Point, Resolution, Series, labels_of
from clawkeeper.monitor.tsdb.matchers import matches


@dataclass
class FakeReader:
    """Series kept in memory: `add(name, value, ts, **labels)`; `stale` names read as stale."""

    series: dict[tuple[str, Labels], list[Point]] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)  # names whose reads raise (a broken store)

    def add(self, name: str, value: float, ts: float, labels: Mapping[str, str] | None = None) -> None:
        points = self.series.setdefault((name, labels_of(labels or {})), [])
        points.append(Point(ts, value))
        points.sort(key=lambda p: p.ts)

    def fill(
        self,
        name: str,
        values: Sequence[float | None],
        *,
        start: float,
        step: float,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        """One point per `step` from `start`; None leaves a gap."""
        for i, value in enumerate(values):
            if value is not None:
                self.add(name, value, start + i * step, labels)

    def _check(self, name: str) -> None:
        if name in self.fail:
            raise RuntimeError(f"cannot read {name}")

    def range(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution | None = None,
    ) -> list[Series]:
        self._check(name)
        out = []
        for (series_name, labels), points in sorted(self.series.items()):
            if series_name == name and matches(labels, matchers):
                selected = tuple(p for p in points if start <= p.ts <= end)
                out.append(Series(name, labels, selected, Resolution.RAW, name in self.stale))
        return out

    def latest(self, name: str, matchers: Sequence[Matcher] = (), *, at: float | None = None) -> list[Series]:
        self._check(name)
        out = []
        for (series_name, labels), points in sorted(self.series.items()):
            if series_name == name and matches(labels, matchers):
                before = [p for p in points if at is None or p.ts <= at]
                if before:
                    out.append(Series(name, labels, (before[-1],), Resolution.RAW, name in self.stale))
        return out

    def names(self) -> list[str]:
        return sorted({name for name, _ in self.series})


@dataclass
class Clock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now
