"""Counter and window functions, checked against Prometheus.

The expected values of the extrapolating functions were produced by `promtool test rules`
(Prometheus 2.42) on the same series, evaluated at 305 s so the window's left edge falls between
samples (where Prometheus 2 and 3 agree about which samples a window holds).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clawkeeper.monitor.model import Point
from clawkeeper.monitor.tsdb import functions as fn


def series(values: list[float | None], interval: float = 10.0) -> tuple[Point, ...]:
    """Points every `interval` seconds from 0; None leaves a gap (no sample at that time)."""
    return tuple(Point(i * interval, v) for i, v in enumerate(values) if v is not None)


STEADY = series([10.0 * i for i in range(31)])  # promtool: 0+10x30
RESET = series([10.0 * i for i in range(11)] + [5.0 + 10 * i for i in range(20)])  # 0+10x10 5+10x19
FALLING = series([100.0 - 3 * i for i in range(31)])  # 100-3x30
LATE_START = series([None] * 19 + [50.0 + 7 * i for i in range(12)])  # _x19 50+7x11


@pytest.mark.parametrize(
    ("function", "points", "expected"),
    [
        (fn.increase, STEADY, 300.0),
        (fn.increase, RESET, 294.82758620689657),
        (fn.rate, RESET, 0.9827586206896552),
        (fn.delta, FALLING, -90.0),
        (fn.increase, LATE_START, 84.0),  # data starts late: extrapolated by half an interval only
        (fn.avg_over_time, FALLING, 17.5),  # window 60 s below
    ],
)
def test_matches_prometheus(
    function: Callable[..., float | None], points: tuple[Point, ...], expected: float
) -> None:
    window = 60.0 if function is fn.avg_over_time else 300.0
    assert function(points, window, at=305.0) == pytest.approx(expected, rel=1e-12)


def test_a_counter_drop_is_a_reset_not_a_negative_increase() -> None:
    points = series([100.0, 110.0, 120.0, 3.0, 13.0])  # the process restarted between 20 s and 30 s

    assert fn.resets(points, 60.0) == 1
    # 100→120 is +20, the restart counts from zero: +3, then +10 = 33 over the 40 s sampled,
    # extrapolated to the window's 50 s (promtool: 41.25, and -108.75 for delta)
    assert fn.increase(points, 50.0, at=40.0) == pytest.approx(41.25)
    assert fn.rate(points, 50.0, at=40.0) == pytest.approx(41.25 / 50)
    assert fn.delta(points, 50.0, at=40.0) == pytest.approx(-108.75)  # a gauge sees the drop


def test_a_counter_is_not_extrapolated_below_zero() -> None:
    points = series([None, None, None, 1.0, 2.0, 3.0])  # a new counter: first seen at 1 after 30 s

    # +2 over 20 s; zero was 10 s before the first sample, so extrapolate 10 s back, not 40
    # (promtool: increase 3, delta 2.5 — a gauge gets half an interval at each open edge)
    assert fn.increase(points, 60.0, at=50.0) == pytest.approx(3.0)
    assert fn.delta(points, 60.0, at=50.0) == pytest.approx(2.5)


@pytest.mark.parametrize("function", [fn.increase, fn.rate, fn.delta])
def test_fewer_than_two_points_give_no_answer(function: Callable[..., float | None]) -> None:
    assert function((), 300.0) is None
    assert function(series([5.0]), 300.0) is None
    assert function(series([5.0, 6.0, 7.0]), 5.0) is None  # only the last point is in the window


def test_the_window_is_open_on_the_left() -> None:
    points = series([1.0, 2.0, 3.0, 4.0])  # at 0, 10, 20, 30

    assert [p.ts for p in fn.window_points(points, 20.0)] == [20.0, 30.0]  # 10 is on the edge: out
    assert [p.ts for p in fn.window_points(points, 20.0, at=25.0)] == [10.0, 20.0]
    assert fn.count_over_time(points, 100.0, at=-1.0) == 0


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (fn.avg_over_time, 3.0),
        (fn.min_over_time, 1.0),
        (fn.max_over_time, 5.0),
        (fn.last_over_time, 2.0),
        (fn.count_over_time, 4),
    ],
)
def test_over_time_functions_use_only_the_window(
    function: Callable[..., float | None], expected: float
) -> None:
    points = series([100.0, 4.0, 5.0, 1.0, 2.0])  # 100 at 0 s is outside a 40 s window at 40 s

    assert function(points, 40.0) == expected


def test_over_time_functions_of_an_empty_window_are_none() -> None:
    points = series([1.0, 2.0])
    for function in (fn.avg_over_time, fn.min_over_time, fn.max_over_time, fn.last_over_time):
        assert function(points, 5.0, at=100.0) is None


def test_a_non_positive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        fn.rate(STEADY, 0.0)


def test_slot_increases_add_up_to_the_total_growth_across_resets() -> None:
    points = series([1.0, 2.0, 4.0, 1.0, 3.0, 3.0, 7.0])  # restart after 20 s; at 0, 10, ... 60 s

    slots = fn.slot_increases(points, start=0.0, step=20.0, slots=4)

    # (0, 20]: 1→4 = 3; (20, 40]: restart, +1, +2 = 3; (40, 60]: 3→7 = 4; (60, 80]: no point
    assert slots == [3.0, 3.0, 4.0, None]
    assert fn.slot_increases(points, start=-20.0, step=20.0, slots=1) == [None]  # nothing before it
