"""Sparklines: the trend column of `clawkeeper metrics`."""

from __future__ import annotations

from clawkeeper.monitor.model import Point
from clawkeeper.monitor.sparkline import bucket_values, combine_max, sparkline


def test_a_ramp_uses_every_bar_from_lowest_to_highest() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"


def test_missing_data_is_a_gap() -> None:
    assert sparkline([1.0, None, 3.0]) == "▁ █"
    assert sparkline([None, None]) == "  "


def test_flat_lines_tell_zero_from_nonzero() -> None:
    assert sparkline([0.0, 0.0]) == "▁▁"
    assert sparkline([1.0, 1.0]) == "▅▅"
    assert sparkline([0.0123, 0.012299999999999998]) == "▅▅"  # averaging noise is not a trend


def test_fixed_bounds_clip_values() -> None:
    assert sparkline([0.0, 50.0, 100.0, 150.0], lo=0.0, hi=100.0) == "▁▅██"


def test_points_land_in_the_slot_of_their_step() -> None:
    points = [Point(100.0, 1.0), Point(160.0005, 2.0), Point(280.0, 4.0), Point(400.0, 9.0)]

    assert bucket_values(points, start=100.0, step=60.0, width=4) == [1.0, 2.0, None, 4.0]


def test_combine_max_takes_the_highest_series_per_slot() -> None:
    assert combine_max([[1.0, None, 3.0], [2.0, None, 1.0]]) == [2.0, None, 3.0]
    assert combine_max([]) == []
