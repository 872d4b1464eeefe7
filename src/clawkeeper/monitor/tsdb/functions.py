"""PromQL-style functions over one series' points, for the rule engine and the CLI.

Every function takes points sorted by time (as `Series.points` are), a `window` in seconds and an
evaluation time `at` (default: the newest point's time), and looks at the points with
`at - window < ts <= at` (left-open, as Prometheus 3 does, so back-to-back windows never count a
point twice). They return None when the window holds too few points to answer, never NaN.

`rate`, `increase` and `delta` follow Prometheus' `extrapolatedRate` (promql/functions.go):
the change between the first and last point in the window is extrapolated towards the window's
edges (by at most half the average sample interval when the data stops short of an edge, and for
counters never below zero), so `increase` over 5 minutes of 10-second samples reports the
increase over 5 minutes, not over the 290 seconds between the first and last sample. For
counters a drop in value is a reset (the process counting restarted): the count restarts from
zero, so the value after the drop is all new increase.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from clawkeeper.monitor.model import Point

_EXTRAPOLATION_SLACK = 1.1  # an edge gap up to 1.1 sample intervals counts as "data reaches the edge"


def window_points(points: Sequence[Point], window: float, *, at: float | None = None) -> Sequence[Point]:
    """The points with `at - window < ts <= at` (a slice; no copy of the points themselves)."""
    if not points:
        return points[:0]
    end = points[-1].ts if at is None else at
    lo = bisect_right(points, end - window, key=_ts)
    hi = bisect_right(points, end, key=_ts)
    return points[lo:hi]


def resets(points: Sequence[Point], window: float, *, at: float | None = None) -> int:
    """How many times the counter dropped (restarted) within the window."""
    selected = window_points(points, window, at=at)
    return sum(1 for prev, cur in pairwise(selected) if cur.value < prev.value)


def increase(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    """How much a counter grew over the window (resets handled, extrapolated); None with < 2 points."""
    return _extrapolated(points, window, at, counter=True, per_second=False)


def rate(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    """Per-second growth of a counter over the window: `increase / window`."""
    return _extrapolated(points, window, at, counter=True, per_second=True)


def delta(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    """Change of a gauge over the window (last minus first, extrapolated; no reset handling)."""
    return _extrapolated(points, window, at, counter=False, per_second=False)


def avg_over_time(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    selected = window_points(points, window, at=at)
    return sum(p.value for p in selected) / len(selected) if selected else None


def min_over_time(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    selected = window_points(points, window, at=at)
    return min(p.value for p in selected) if selected else None


def max_over_time(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    selected = window_points(points, window, at=at)
    return max(p.value for p in selected) if selected else None


def last_over_time(points: Sequence[Point], window: float, *, at: float | None = None) -> float | None:
    selected = window_points(points, window, at=at)
    return selected[-1].value if selected else None


def count_over_time(points: Sequence[Point], window: float, *, at: float | None = None) -> int:
    return len(window_points(points, window, at=at))


def slot_increases(points: Sequence[Point], *, start: float, step: float, slots: int) -> list[float | None]:
    """A counter's growth in each slot (start + k*step, start + (k+1)*step], resets handled.

    Unlike `increase` over back-to-back windows, nothing falls between two slots: each slot is
    measured from the last point at or before its start, so the slots add up to the total growth.
    A slot without a point, or without an earlier point to measure from, is None.
    """
    corrected: list[float] = []  # the value as if the counter had never reset
    offset = 0.0
    previous: float | None = None
    for point in points:
        if previous is not None and point.value < previous:
            offset += previous
        corrected.append(point.value + offset)
        previous = point.value
    out: list[float | None] = []
    for k in range(slots):
        lo = bisect_right(points, start + k * step, key=_ts)  # first index inside the slot
        hi = bisect_right(points, start + (k + 1) * step, key=_ts)
        out.append(corrected[hi - 1] - corrected[lo - 1] if lo > 0 and hi > lo else None)
    return out


def _extrapolated(
    points: Sequence[Point], window: float, at: float | None, *, counter: bool, per_second: bool
) -> float | None:
    if window <= 0:
        raise ValueError("window must be positive")
    selected = window_points(points, window, at=at)
    if len(selected) < 2:
        return None
    end = points[-1].ts if at is None else at
    start = end - window
    first, last = selected[0], selected[-1]
    result = last.value - first.value
    if counter:
        previous = 0.0
        for point in selected:
            if point.value < previous:  # a reset: everything up to `previous` was already counted
                result += previous
            previous = point.value
    sampled = last.ts - first.ts
    if sampled <= 0:
        return None
    to_start = first.ts - start
    to_end = end - last.ts
    average_gap = sampled / (len(selected) - 1)
    if counter and result > 0 and first.value >= 0:
        # a counter cannot have been below zero: don't extrapolate past the time it was zero
        to_start = min(to_start, sampled * (first.value / result))
    threshold = average_gap * _EXTRAPOLATION_SLACK
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result *= interval / sampled
    return result / window if per_second else result


def _ts(point: Point) -> float:
    return point.ts
