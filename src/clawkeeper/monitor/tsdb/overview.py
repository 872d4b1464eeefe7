"""What `clawkeeper metrics` shows, as data: per metric, per series the latest point, staleness and
a trend over a window (one averaged value per slot, for a sparkline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clawkeeper.errors import NotFound
from clawkeeper.monitor.model import Labels, Matcher, MetricKind, Point, Resolution
from clawkeeper.monitor.sparkline import bucket_values
from clawkeeper.monitor.tsdb.functions import slot_increases
from clawkeeper.monitor.tsdb.matchers import format_matchers
from clawkeeper.monitor.tsdb.store import SeriesInfo, TimeSeriesStore


@dataclass(frozen=True)
class SeriesView:
    name: str
    labels: Labels
    kind: MetricKind
    latest: Point | None
    stale: bool
    stale_reason: str | None
    stale_since: float | None
    resolution: Resolution | None  # of `trend`
    # one value per step of the window (None: no data there): a gauge's average, a counter's increase
    trend: tuple[float | None, ...]
    points: tuple[Point, ...] | None = None  # only when asked for

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "labels": dict(self.labels),
            "latest": None if self.latest is None else {"ts": self.latest.ts, "value": self.latest.value},
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "stale_since": self.stale_since,
        }
        if self.points is not None:
            doc["resolution"] = None if self.resolution is None else self.resolution.value
            doc["points"] = [[p.ts, p.value] for p in self.points]
        return doc


@dataclass(frozen=True)
class MetricView:
    name: str
    kind: MetricKind
    series: tuple[SeriesView, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "series": [s.to_json() for s in self.series]}


def overview(
    store: TimeSeriesStore,
    *,
    name: str | None,
    matchers: Sequence[Matcher],
    now: float,
    window: float,
    slots: int,
    with_points: bool = False,
    points_step: float | None = None,
) -> list[MetricView]:
    """Every metric (or just `name`) with its series matching `matchers`.

    Raises NotFound when `name` is given and no series of it (matching) exists.
    """
    start = now - window
    step = window / slots
    infos = store.series(name, matchers)
    if name is not None and not infos:
        if store.series(name):
            raise NotFound(
                f"no series of {name} match {format_matchers(matchers)}",
                hint=f"`clawkeeper metrics {name}` lists its series and labels",
            )
        raise NotFound(f"no metric named {name!r} in the store", hint="`clawkeeper metrics` lists them all")
    by_name: dict[str, list[SeriesInfo]] = {}
    for info in infos:
        by_name.setdefault(info.name, []).append(info)
    views = []
    for metric, members in by_name.items():
        kind = members[0].kind
        latest = {s.labels: s.last for s in store.latest(metric, matchers, at=now)}
        trends = _trends(store, metric, matchers, kind, start=start, end=now, step=step, slots=slots)
        shown = (
            {s.labels: s for s in store.range(metric, matchers, start=start, end=now, step=points_step)}
            if with_points
            else {}
        )
        series_views = []
        for info in members:
            points = shown.get(info.labels)
            series_views.append(
                SeriesView(
                    name=metric,
                    labels=info.labels,
                    kind=info.kind,
                    latest=latest.get(info.labels),
                    stale=info.stale,
                    stale_reason=info.stale_reason,
                    stale_since=info.stale_since,
                    trend=trends.get(info.labels, (None,) * slots),
                    resolution=points.resolution if points else None,
                    points=(points.points if points else ()) if with_points else None,
                )
            )
        views.append(MetricView(metric, kind, tuple(series_views)))
    return views


def _trends(
    store: TimeSeriesStore,
    metric: str,
    matchers: Sequence[Matcher],
    kind: MetricKind,
    *,
    start: float,
    end: float,
    step: float,
    slots: int,
) -> dict[Labels, tuple[float | None, ...]]:
    """Per series, one value per slot: a gauge's average, a counter's increase."""
    if kind is not MetricKind.COUNTER:
        return {
            s.labels: tuple(bucket_values(s.points, start=start, step=step, width=slots))
            for s in store.range(metric, matchers, start=start, end=end, step=step)
        }
    # a counter's growth per slot comes from the points themselves (averaging a counter into
    # slots would blur its resets); from one step before `start` so the first slot has a baseline
    return {
        s.labels: tuple(slot_increases(s.points, start=start, step=step, slots=slots))
        for s in store.range(metric, matchers, start=start - step, end=end)
    }
