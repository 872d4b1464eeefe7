"""Reading points of one series at a resolution, optionally downsampled to a step.

Tiers, coarse to fine: 1-hour rollups, 1-minute rollups, raw samples. A rollup table is complete
below its watermark (the end of the last closed bucket maintenance rolled up); above it a read at
that resolution completes the tail from the finer tiers, aggregated on the fly, so a coarse read
still reaches the newest sample. A rollup point carries its bucket's start as `ts` and its average
as `value`; a bucket is in a read when its start lies in [start, end].

With a `step`, points are averaged (weighted by the number of raw samples behind them) into
buckets [start + k*step, start + (k+1)*step); each point's `ts` is its bucket's start.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from itertools import starmap

from clawkeeper.monitor.model import Point, Resolution
from clawkeeper.monitor.settings import StoreSettings

MINUTE_MS = 60_000
HOUR_MS = 3_600_000

WIDTH_MS: dict[Resolution, int] = {Resolution.RAW: 0, Resolution.MINUTE: MINUTE_MS, Resolution.HOUR: HOUR_MS}
TABLE: dict[Resolution, str] = {
    Resolution.RAW: "tsdb_samples",
    Resolution.MINUTE: "tsdb_rollup_1m",
    Resolution.HOUR: "tsdb_rollup_1h",
}
_MAX_BUCKET_QUERIES = 2048  # above this many buckets, one GROUP BY beats a query per bucket
FINEST_FIRST: tuple[Resolution, ...] = (Resolution.RAW, Resolution.MINUTE, Resolution.HOUR)


@dataclass(frozen=True)
class Watermarks:
    """End (exclusive, ms) of the rolled-up part of each rollup table; 0 when never rolled up."""

    minute_ms: int = 0
    hour_ms: int = 0

    def of(self, resolution: Resolution) -> int | None:
        """None for raw: it has no watermark (everything written is there)."""
        if resolution is Resolution.MINUTE:
            return self.minute_ms
        if resolution is Resolution.HOUR:
            return self.hour_ms
        return None


def read_watermarks(conn: sqlite3.Connection) -> Watermarks:
    rows = dict(conn.execute("SELECT resolution, done_until_ms FROM tsdb_rollup_state").fetchall())
    return Watermarks(
        minute_ms=int(rows.get(Resolution.MINUTE.value, 0)), hour_ms=int(rows.get(Resolution.HOUR.value, 0))
    )


def retention_s(settings: StoreSettings, resolution: Resolution) -> float:
    if resolution is Resolution.RAW:
        return settings.raw_retention
    if resolution is Resolution.MINUTE:
        return settings.minute_retention
    return settings.hour_retention


def choose_resolution(start: float, now: float, settings: StoreSettings, step: float | None) -> Resolution:
    """The finest resolution whose retention still covers `start`.

    With a `step`, the coarsest of those no wider than the step: its points are fewer and the
    averages over each step come out the same.
    """
    covering = [r for r in FINEST_FIRST if start >= now - retention_s(settings, r)] or [Resolution.HOUR]
    if step is not None:
        fitting = [r for r in covering if WIDTH_MS[r] <= step * 1000]
        if fitting:
            return fitting[-1]
    return covering[0]


def read_points(
    conn: sqlite3.Connection,
    series_id: int,
    resolution: Resolution,
    start_ms: int,
    end_ms: int,
    *,
    step_ms: int | None,
    watermarks: Watermarks,
) -> list[Point]:
    """Points of one series; see the module docstring for what a point means at each resolution."""
    if end_ms < start_ms:
        return []
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, not sqlite3.Row: cheaper on big reads
    if resolution is Resolution.RAW and step_ms is None:
        # straight from the cursor into Points: no intermediate list of row tuples
        return list(
            starmap(
                Point,
                cursor.execute(
                    "SELECT ts_ms / 1000.0, value FROM tsdb_samples "
                    "WHERE series_id = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms",
                    (series_id, start_ms, end_ms),
                ),
            )
        )

    if step_ms is None:
        origin, width = 0, WIDTH_MS[resolution]
        first_bucket = -(-start_ms // width) * width  # the first bucket starting at or after start
    else:
        origin, width = start_ms, step_ms
        first_bucket = start_ms

    points: list[Point] = []
    grouped: list[tuple[int, float, int]] = []  # (bucket_ms, sum, count), ascending
    lower = start_ms
    # coarse to fine: the target table below its watermark, then each finer tier above the last
    tiers = [r for r in reversed(FINEST_FIRST) if FINEST_FIRST.index(r) <= FINEST_FIRST.index(resolution)]
    for tier in tiers:
        mark = watermarks.of(tier)
        upper = end_ms if mark is None else min(end_ms, mark - 1)
        if tier is resolution and step_ms is None:
            if upper >= lower:
                rows = cursor.execute(
                    f"SELECT ts_ms / 1000.0, avg FROM {TABLE[tier]} "  # noqa: S608 - fixed table names
                    "WHERE series_id = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms",
                    (series_id, lower, upper),
                )
                points = list(starmap(Point, rows))
        elif upper >= lower:
            grouped.extend(_grouped(cursor, tier, series_id, lower, upper, origin, width))
        if mark is not None:
            lower = max(first_bucket, mark, lower)
    points.extend(Point(bucket / 1000, total / count) for bucket, total, count in _merge(grouped) if count)
    return points


def _grouped(
    cursor: sqlite3.Cursor, tier: Resolution, series_id: int, lo: int, hi: int, origin: int, width: int
) -> list[tuple[int, float, int]]:
    """(bucket_ms, sum, count) of the tier's rows in [lo, hi], in buckets origin + k*width."""
    total = "sum(value), count(*)" if tier is Resolution.RAW else "sum(avg * count), sum(count)"
    first = origin + ((lo - origin) // width) * width
    buckets = (hi - first) // width + 1
    if buckets <= _MAX_BUCKET_QUERIES:
        # one aggregate per bucket walks the primary key in order; GROUP BY on a computed bucket
        # would sort every row through a temporary B-tree first (2-3x slower on 30 days of raw)
        sql = (
            f"SELECT {total} FROM {TABLE[tier]} "  # noqa: S608 - fixed table names
            "WHERE series_id = ? AND ts_ms >= ? AND ts_ms <= ?"
        )
        out = []
        for k in range(buckets):
            bucket = first + k * width
            summed, count = cursor.execute(
                sql, (series_id, max(lo, bucket), min(hi, bucket + width - 1))
            ).fetchone()
            if count:
                out.append((bucket, float(summed), int(count)))
        return out
    sql = (
        f"SELECT ((ts_ms - ?) / ?) * ? + ? AS bucket, {total} FROM {TABLE[tier]} "  # noqa: S608
        "WHERE series_id = ? AND ts_ms BETWEEN ? AND ? GROUP BY bucket ORDER BY bucket"
    )
    rows = cursor.execute(sql, (origin, width, width, origin, series_id, lo, hi)).fetchall()
    return [(int(b), float(s), int(c)) for b, s, c in rows]


def _merge(grouped: list[tuple[int, float, int]]) -> list[tuple[int, float, int]]:
    """Join entries of the same bucket (tiers meet at a watermark inside a bucket); input ascending."""
    merged: list[tuple[int, float, int]] = []
    for bucket, total, count in grouped:
        if merged and merged[-1][0] == bucket:
            _, prev_total, prev_count = merged[-1]
            merged[-1] = (bucket, prev_total + total, prev_count + count)
        else:
            merged.append((bucket, total, count))
    return merged
