"""The time-series tables inside the monitor's SQLite file (component "tsdb").

Every table is prefixed `tsdb_` because other components keep their tables in the same file.
Timestamps are integer milliseconds since the Unix epoch. Samples and rollups are keyed by
(series_id, ts_ms) in WITHOUT ROWID tables, so a range read of one series is one ordered walk of
the primary-key B-tree and a point costs ~20 bytes on disk.

A rollup row covers the bucket [ts_ms, ts_ms + width) and holds min, max, avg, count and the last
value of the points in it. `tsdb_rollup_state` keeps, per rollup resolution, the end of the last
closed bucket already rolled up (the watermark): maintenance is incremental from there, and
readers complete the open tail from the finer data above it.

Append migrations; never edit a released one (`ensure_schema` applies them in order).
"""

from __future__ import annotations

COMPONENT = "tsdb"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tsdb_series (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        labels_json TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'gauge',
        UNIQUE (name, labels_json)
    );
    CREATE TABLE tsdb_samples (
        series_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series_id, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE tsdb_rollup_1m (
        series_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        avg REAL NOT NULL,
        count INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (series_id, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE tsdb_rollup_1h (
        series_id INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        avg REAL NOT NULL,
        count INTEGER NOT NULL,
        last REAL NOT NULL,
        PRIMARY KEY (series_id, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE tsdb_rollup_state (
        resolution TEXT PRIMARY KEY,
        done_until_ms INTEGER NOT NULL
    );
    CREATE TABLE tsdb_stale (
        source TEXT NOT NULL,
        name TEXT NOT NULL,
        since_ms INTEGER NOT NULL,
        last_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (source, name)
    );
    CREATE INDEX tsdb_stale_by_name ON tsdb_stale (name);
    """,
)
