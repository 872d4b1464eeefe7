"""Maintenance: roll closed buckets up into 1-minute and 1-hour rollups, then apply retention.

Incremental: each rollup table has a watermark (the end of the last closed bucket rolled up), and
a run only reads what lies above it, plus a short look-back so a sample that arrives a little late
(a slow collector stamps its samples with the time it started) still lands in its bucket.
Idempotent: a bucket is written with INSERT ... ON CONFLICT DO UPDATE from all the points behind
it, so running maintenance twice, or re-rolling a bucket, gives the same rows.

1-minute buckets come from raw samples; 1-hour buckets from 1-minute rollups (weighted by count),
so hourly history survives after raw samples expire. Rollups run before deletes in the same pass:
nothing expires before it has been rolled up.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from clawkeeper.monitor.model import Resolution
from clawkeeper.monitor.settings import StoreSettings
from clawkeeper.monitor.tsdb.query import HOUR_MS, MINUTE_MS, read_watermarks

LATE_TOLERANCE_MS = 5 * MINUTE_MS  # re-roll the last five minutes on every run

# bucket widths are written out: 60000 = MINUTE_MS, 3600000 = HOUR_MS (query.py)

_MINUTE_FROM_RAW = """
INSERT INTO tsdb_rollup_1m (series_id, ts_ms, min, max, avg, count, last)
SELECT g.series_id, g.bucket, g.lo, g.hi, g.mean, g.n,
       (SELECT s.value FROM tsdb_samples AS s WHERE s.series_id = g.series_id AND s.ts_ms = g.last_ts)
FROM (
    SELECT series_id, (ts_ms / 60000) * 60000 AS bucket, min(value) AS lo, max(value) AS hi,
           avg(value) AS mean, count(*) AS n, max(ts_ms) AS last_ts
    FROM tsdb_samples
    WHERE series_id IN (SELECT id FROM tsdb_series) AND ts_ms >= ? AND ts_ms < ?
    GROUP BY series_id, bucket
) AS g
WHERE true
ON CONFLICT (series_id, ts_ms) DO UPDATE SET
    min = excluded.min, max = excluded.max, avg = excluded.avg, count = excluded.count, last = excluded.last
"""

_HOUR_FROM_MINUTE = """
INSERT INTO tsdb_rollup_1h (series_id, ts_ms, min, max, avg, count, last)
SELECT g.series_id, g.bucket, g.lo, g.hi, g.total / g.n, g.n,
       (SELECT m.last FROM tsdb_rollup_1m AS m WHERE m.series_id = g.series_id AND m.ts_ms = g.last_ts)
FROM (
    SELECT series_id, (ts_ms / 3600000) * 3600000 AS bucket, min(min) AS lo, max(max) AS hi,
           sum(avg * count) AS total, sum(count) AS n, max(ts_ms) AS last_ts
    FROM tsdb_rollup_1m
    WHERE series_id IN (SELECT id FROM tsdb_series) AND ts_ms >= ? AND ts_ms < ?
    GROUP BY series_id, bucket
) AS g
WHERE true
ON CONFLICT (series_id, ts_ms) DO UPDATE SET
    min = excluded.min, max = excluded.max, avg = excluded.avg, count = excluded.count, last = excluded.last
"""

_SET_WATERMARK = (
    "INSERT INTO tsdb_rollup_state (resolution, done_until_ms) VALUES (?, ?) "
    "ON CONFLICT (resolution) DO UPDATE SET done_until_ms = excluded.done_until_ms"
)


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance pass did. Bucket counts include re-rolled (updated) buckets."""

    minute_buckets: int = 0
    hour_buckets: int = 0
    deleted_raw: int = 0
    deleted_minute: int = 0
    deleted_hour: int = 0
    series_removed: int = 0
    minute_done_until: float | None = None  # Unix seconds; rollups are complete below this
    hour_done_until: float | None = None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "minute_buckets": self.minute_buckets,
            "hour_buckets": self.hour_buckets,
            "deleted_raw": self.deleted_raw,
            "deleted_minute": self.deleted_minute,
            "deleted_hour": self.deleted_hour,
            "series_removed": self.series_removed,
            "minute_done_until": self.minute_done_until,
            "hour_done_until": self.hour_done_until,
        }


def roll_up_minutes(conn: sqlite3.Connection, now_ms: int, settings: StoreSettings) -> tuple[int, int, int]:
    """Roll closed minutes up from raw samples. Returns (buckets written, from_ms, watermark_ms).

    Call inside a write transaction.
    """
    marks = read_watermarks(conn)
    closed_end = (now_ms // MINUTE_MS) * MINUTE_MS
    if marks.minute_ms:
        # re-roll a short look-back, but never a bucket raw retention may already have thinned
        raw_horizon = _ceil(now_ms - int(settings.raw_retention * 1000), MINUTE_MS)
        start = min(marks.minute_ms, max(marks.minute_ms - LATE_TOLERANCE_MS, raw_horizon))
    else:
        oldest = _oldest(conn, "tsdb_samples")
        if oldest is None:
            return 0, closed_end, 0
        start = (oldest // MINUTE_MS) * MINUTE_MS
    if closed_end <= start:
        return 0, start, marks.minute_ms
    written = conn.execute(_MINUTE_FROM_RAW, (start, closed_end)).rowcount
    conn.execute(_SET_WATERMARK, (Resolution.MINUTE.value, closed_end))
    return max(written, 0), start, closed_end


def roll_up_hours(
    conn: sqlite3.Connection, now_ms: int, settings: StoreSettings, minute_from_ms: int
) -> tuple[int, int]:
    """Roll closed hours up from 1-minute rollups (those below the minute watermark).

    `minute_from_ms` is where the minute pass started: hours from there on are rolled again,
    since their minutes may just have changed. Returns (buckets written, watermark_ms).
    """
    marks = read_watermarks(conn)
    closed_end = (marks.minute_ms // HOUR_MS) * HOUR_MS
    if marks.hour_ms:
        minute_horizon = _ceil(now_ms - int(settings.minute_retention * 1000), HOUR_MS)
        rerolled = (minute_from_ms // HOUR_MS) * HOUR_MS
        start = min(marks.hour_ms, max(rerolled, minute_horizon))
    else:
        oldest = _oldest(conn, "tsdb_rollup_1m")
        if oldest is None:
            return 0, 0
        start = (oldest // HOUR_MS) * HOUR_MS
    if closed_end <= start:
        return 0, marks.hour_ms
    written = conn.execute(_HOUR_FROM_MINUTE, (start, closed_end)).rowcount
    conn.execute(_SET_WATERMARK, (Resolution.HOUR.value, closed_end))
    return max(written, 0), closed_end


def delete_expired(conn: sqlite3.Connection, now_ms: int, settings: StoreSettings) -> tuple[int, int, int]:
    """Delete points older than their resolution's retention. Returns rows deleted (raw, 1m, 1h)."""
    counts = []
    for table, keep_s in (
        ("tsdb_samples", settings.raw_retention),
        ("tsdb_rollup_1m", settings.minute_retention),
        ("tsdb_rollup_1h", settings.hour_retention),
    ):
        horizon = now_ms - int(keep_s * 1000)
        # `series_id IN (...)` lets SQLite walk the primary key per series instead of the table
        cursor = conn.execute(
            f"DELETE FROM {table} WHERE series_id IN (SELECT id FROM tsdb_series) AND ts_ms < ?",  # noqa: S608
            (horizon,),
        )
        counts.append(max(cursor.rowcount, 0))
    return counts[0], counts[1], counts[2]


def delete_empty_series(conn: sqlite3.Connection) -> int:
    """Forget series with no point left at any resolution."""
    cursor = conn.execute(
        "DELETE FROM tsdb_series WHERE "
        "NOT EXISTS (SELECT 1 FROM tsdb_samples AS s WHERE s.series_id = tsdb_series.id) AND "
        "NOT EXISTS (SELECT 1 FROM tsdb_rollup_1m AS m WHERE m.series_id = tsdb_series.id) AND "
        "NOT EXISTS (SELECT 1 FROM tsdb_rollup_1h AS h WHERE h.series_id = tsdb_series.id)"
    )
    return max(cursor.rowcount, 0)


def _oldest(conn: sqlite3.Connection, table: str) -> int | None:
    # per series, min(ts_ms) is one primary-key lookup; over the whole table it would be a scan
    row = conn.execute(
        f"SELECT min((SELECT min(ts_ms) FROM {table} AS t WHERE t.series_id = s.id)) "  # noqa: S608
        "FROM tsdb_series AS s"
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _ceil(value: int, width: int) -> int:
    return -(-value // width) * width
