"""The keeper's embedded time-series store: raw samples, 1-minute and 1-hour rollups, in SQLite.

    with TimeSeriesStore(path, settings=settings.monitor.store) as store:
        store.write(samples)                      # the daemon, every tick
        store.maintain(now)                       # the daemon, every minute: rollups + retention
        store.range("host_cpu_percent", start=now - 3600, end=now, step=12)

Readers in another process open it with `readonly=True`. Counter and window functions for rules
live in `functions.py`.
"""

from clawkeeper.monitor.tsdb.matchers import format_matchers, matches, parse_matcher
from clawkeeper.monitor.tsdb.rollup import MaintenanceResult
from clawkeeper.monitor.tsdb.store import Bucket, RollupSeries, SeriesInfo, StoreStats, TimeSeriesStore

__all__ = [
    "Bucket",
    "MaintenanceResult",
    "RollupSeries",
    "SeriesInfo",
    "StoreStats",
    "TimeSeriesStore",
    "format_matchers",
    "matches",
    "parse_matcher",
]
