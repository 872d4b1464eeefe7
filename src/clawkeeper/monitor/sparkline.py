"""Unicode sparklines (▁▂▃▄▅▆▇█) for terminals: a series' shape in a dozen characters."""

from __future__ import annotations

import math
from collections.abc import Sequence

from clawkeeper.monitor.model import Point

BARS = "▁▂▃▄▅▆▇█"
GAP = " "


def sparkline(values: Sequence[float | None], *, lo: float | None = None, hi: float | None = None) -> str:
    """One character per value, scaled between `lo` and `hi` (default: the values' own range).

    None is a gap (no data). A flat line sits at the bottom when it is zero, mid-height otherwise,
    so "always 0" and "always 1" look different.
    """
    present = [v for v in values if v is not None]
    if not present:
        return GAP * len(values)
    low = min(present) if lo is None else lo
    high = max(present) if hi is None else hi
    span = high - low
    out = []
    for value in values:
        if value is None:
            out.append(GAP)
        elif math.isclose(low, high, rel_tol=1e-9, abs_tol=1e-12):  # flat, up to averaging noise
            out.append(BARS[0] if value == 0 else BARS[len(BARS) // 2])
        else:
            level = round((min(max(value, low), high) - low) / span * (len(BARS) - 1))
            out.append(BARS[level])
    return "".join(out)


def bucket_values(points: Sequence[Point], *, start: float, step: float, width: int) -> list[float | None]:
    """Place points (already averaged per step, `ts` = bucket start) into `width` slots from `start`.

    A slot with no point is None; a later point in the same slot replaces an earlier one.
    """
    slots: list[float | None] = [None] * width
    for point in points:
        # timestamps are stored in whole milliseconds: allow 1 ms of rounding at a slot's edge
        index = math.floor((point.ts - start + 0.001) / step) if step > 0 else 0
        if 0 <= index < width:
            slots[index] = point.value
    return slots


def combine_max(rows: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Slot-wise maximum across several series (the row of a metric with many label sets)."""
    if not rows:
        return []
    out: list[float | None] = []
    for slot in zip(*rows, strict=False):
        present = [v for v in slot if v is not None]
        out.append(max(present) if present else None)
    return out
