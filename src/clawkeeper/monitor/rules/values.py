"""From the store to one value per label set: the left-hand side of a rule's comparison.

Windows are left-open, `now - window < ts <= now`, as in `tsdb/functions.py` (and Prometheus 3;
Prometheus 2.x also counts a point exactly at the window's start). A series is *stale* when its
collector failed at its last attempt (`Series.stale`) or it has no point in the window; for `last`
the window is the lookback (5 minutes by default, Prometheus' lookback delta). A stale series
takes the rule's `treat_stale_as` value, or has no value (and so no alert) when that is unset.
A rule with `treat_stale_as` that finds no series at all reports one, labelled with the rule's
equality matchers, as Prometheus' `absent()` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.model import Labels, MetricReader, Point, Series
from clawkeeper.monitor.rules.spec import Aggregate, Reduction, RuleSpec, equality_labels
from clawkeeper.monitor.tsdb import functions

WindowFunction = Callable[[Sequence[Point], float, float], float | None]


def _avg(points: Sequence[Point], window: float, at: float) -> float | None:
    return functions.avg_over_time(points, window, at=at)


def _min(points: Sequence[Point], window: float, at: float) -> float | None:
    return functions.min_over_time(points, window, at=at)


def _max(points: Sequence[Point], window: float, at: float) -> float | None:
    return functions.max_over_time(points, window, at=at)


def _rate(points: Sequence[Point], window: float, at: float) -> float | None:
    return functions.rate(points, window, at=at)


def _rate_per_minute(points: Sequence[Point], window: float, at: float) -> float | None:
    per_second = functions.rate(points, window, at=at)
    return None if per_second is None else per_second * 60.0


def _increase(points: Sequence[Point], window: float, at: float) -> float | None:
    return functions.increase(points, window, at=at)


WINDOW_FUNCTIONS: dict[Reduction, WindowFunction] = {
    Reduction.AVG: _avg,
    Reduction.MIN: _min,
    Reduction.MAX: _max,
    Reduction.RATE: _rate,
    Reduction.RATE_PER_MINUTE: _rate_per_minute,
    Reduction.INCREASE: _increase,
}


@dataclass(frozen=True)
class SeriesValue:
    """One label set's value at one evaluation (None: the data could not answer)."""

    labels: Labels
    value: float | None
    baseline: float | None = None
    stale: bool = False  # `treat_stale_as` stood in for the data
    note: str = ""  # why there is no value, or why it is stale


def series_values(rule: RuleSpec, reader: MetricReader, now: float) -> list[SeriesValue]:
    """The value of every matching label set of `rule` at `now`."""
    if rule.reduction is Reduction.ABSENT:
        return _absent(rule, reader, now)
    values = _last(rule, reader, now) if rule.reduction is Reduction.LAST else _windowed(rule, reader, now)
    if rule.treat_stale_as is not None and not values:
        values = [
            SeriesValue(
                equality_labels(rule.matchers),
                rule.treat_stale_as,
                stale=True,
                note=f"no {rule.metric} series in the store",
            )
        ]
    if rule.group_by is not None:
        values = _grouped(rule, values)
    return values


def _fresh(point: Point | None, window: float, now: float) -> bool:
    return point is not None and now - window < point.ts <= now


def _stale_value(rule: RuleSpec, series: Series, why: str) -> SeriesValue:
    if rule.treat_stale_as is None:
        return SeriesValue(series.labels, None, note=why)
    return SeriesValue(series.labels, rule.treat_stale_as, stale=True, note=why)


def _stale_reason(rule: RuleSpec, series: Series) -> str:
    if series.stale:
        return "its collector failed at its last attempt"
    return f"no sample in the last {format_duration(rule.window)}"


def _absent(rule: RuleSpec, reader: MetricReader, now: float) -> list[SeriesValue]:
    found = reader.latest(rule.metric, rule.matchers, at=now)
    if any(_fresh(s.last, rule.window, now) for s in found):
        return []
    return [SeriesValue(equality_labels(rule.matchers), 1.0, note="no sample in the window")]


def _last(rule: RuleSpec, reader: MetricReader, now: float) -> list[SeriesValue]:
    out = []
    for series in reader.latest(rule.metric, rule.matchers, at=now):
        point = series.last
        # a collector failure only matters to rules that say what staleness means; for the
        # others its last (still fresh) sample is as good as ever
        usable = not series.stale or rule.treat_stale_as is None
        if point is not None and _fresh(point, rule.window, now) and usable:
            out.append(SeriesValue(series.labels, point.value))
        else:
            out.append(_stale_value(rule, series, _stale_reason(rule, series)))
    return out


def _windowed(rule: RuleSpec, reader: MetricReader, now: float) -> list[SeriesValue]:
    compute = WINDOW_FUNCTIONS[rule.reduction]
    current = reader.range(rule.metric, rule.matchers, start=now - rule.window, end=now)
    baselines: dict[Labels, float | None] = {}
    if rule.baseline is not None:
        offset = rule.baseline.end_offset(rule.window)
        base_end = now - offset
        earlier = reader.range(
            rule.metric, rule.matchers, start=base_end - rule.baseline.window, end=base_end
        )
        scale = rule.window / rule.baseline.window if rule.reduction is Reduction.INCREASE else 1.0
        for series in earlier:
            value = compute(series.points, rule.baseline.window, base_end)
            baselines[series.labels] = None if value is None else value * scale
    out = []
    for series in current:
        in_window = functions.window_points(series.points, rule.window, at=now)
        if rule.treat_stale_as is not None and (series.stale or not in_window):
            out.append(_stale_value(rule, series, _stale_reason(rule, series)))
            continue
        value = compute(series.points, rule.window, now)
        baseline = baselines.get(series.labels)
        note = ""
        if value is None:
            note = f"too few samples in the last {format_duration(rule.window)}"
        elif rule.baseline is not None and baseline is None:
            note = "no data for the baseline window"
        out.append(SeriesValue(series.labels, value, baseline, note=note))
    return out


def _aggregate(how: Aggregate, values: list[float]) -> float:
    if how is Aggregate.SUM:
        return sum(values)
    if how is Aggregate.AVG:
        return sum(values) / len(values)
    if how is Aggregate.MIN:
        return min(values)
    if how is Aggregate.MAX:
        return max(values)
    return float(len(values))


def _grouped(rule: RuleSpec, values: list[SeriesValue]) -> list[SeriesValue]:
    by = rule.group_by or ()
    groups: dict[Labels, list[SeriesValue]] = {}
    for item in values:
        if item.value is None:
            continue
        label_map = dict(item.labels)
        key = tuple(sorted((k, label_map[k]) for k in by if label_map.get(k)))
        groups.setdefault(key, []).append(item)
    out = []
    for key, members in sorted(groups.items()):
        value = _aggregate(rule.aggregate, [m.value for m in members if m.value is not None])
        bases = [m.baseline for m in members if m.baseline is not None]
        baseline = _aggregate(rule.aggregate, bases) if bases and rule.baseline is not None else None
        out.append(SeriesValue(key, value, baseline))
    return out
