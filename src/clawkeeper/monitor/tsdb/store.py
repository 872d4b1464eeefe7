"""`TimeSeriesStore`: the keeper's embedded time-series store, in the monitor's SQLite file.

Writes are cheap by design (the whole keeper has 1% of one core): series ids are cached in memory,
and one `write()` call is one transaction and one `executemany`. Values that are not finite (NaN,
±inf) are skipped and counted in `rejected`, never stored.

Threads and processes: the store holds ONE connection and a lock around every use of it, so the
daemon's loop thread (writes, maintenance, rules) and other threads of the same process (the
/metrics exporter) can share one instance; each call is short (a tick's write is well under a
millisecond, a 30-day read tens of milliseconds), so a lock costs less than a connection per
thread would. Other processes (the CLI) open their own instance with `readonly=True`; WAL lets
them read committed data while the daemon writes.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from clawkeeper.errors import LedgerError, UsageError
from clawkeeper.monitor import db
from clawkeeper.monitor.model import Labels, Matcher, MetricKind, Point, Resolution, Sample, Series
from clawkeeper.monitor.settings import StoreSettings
from clawkeeper.monitor.tsdb import rollup
from clawkeeper.monitor.tsdb.matchers import check_matchers, matches
from clawkeeper.monitor.tsdb.query import TABLE, choose_resolution, read_points, read_watermarks
from clawkeeper.monitor.tsdb.schema import COMPONENT, MIGRATIONS

_METRIC_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_KINDS = frozenset(kind.value for kind in MetricKind)


@dataclass(frozen=True)
class SeriesInfo:
    """One stored series: its identity, the time span it covers and whether it is stale.

    `first_ts` is approximate (the start of its oldest rollup bucket) once its raw samples expired.
    """

    name: str
    labels: Labels
    kind: MetricKind
    first_ts: float | None
    last_ts: float | None
    stale: bool = False
    stale_reason: str | None = None
    stale_since: float | None = None
    stale_source: str | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": self.label_map,
            "kind": self.kind.value,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "stale_since": self.stale_since,
            "stale_source": self.stale_source,
        }


@dataclass(frozen=True)
class Bucket:
    """One rollup bucket [ts, ts + width): the summary of the raw samples in it."""

    ts: float
    min: float
    max: float
    avg: float
    count: int
    last: float


@dataclass(frozen=True)
class RollupSeries:
    name: str
    labels: Labels
    resolution: Resolution
    buckets: tuple[Bucket, ...]

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class StoreStats:
    series: int
    raw_rows: int
    minute_rows: int
    hour_rows: int
    stale_metrics: int
    file_bytes: int  # the database file plus its WAL (other components' tables included)
    rejected_samples: int  # non-finite or unnamed samples skipped by this instance

    def to_json(self) -> dict[str, int]:
        return {
            "series": self.series,
            "raw_rows": self.raw_rows,
            "minute_rows": self.minute_rows,
            "hour_rows": self.hour_rows,
            "stale_metrics": self.stale_metrics,
            "file_bytes": self.file_bytes,
            "rejected_samples": self.rejected_samples,
        }


@dataclass(frozen=True)
class _Stale:
    source: str
    since_ms: int
    reason: str


@dataclass(frozen=True)
class _SeriesRow:
    id: int
    labels: Labels
    kind: MetricKind


class TimeSeriesStore:
    """Implements `MetricWriter` and `MetricReader` (monitor/model.py) over SQLite.

    `settings` gives the retention of each resolution (used by `maintain` and by `range` to pick
    a resolution); `clock` is the wall clock in Unix seconds (tests pass a fake one).
    """

    def __init__(
        self,
        path: Path,
        *,
        settings: StoreSettings | None = None,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self.settings = settings or StoreSettings(path=path)
        self._clock = clock
        self._lock = threading.RLock()
        self._ids: dict[tuple[str, Labels], int] = {}
        self._rejected = 0
        conn = db.connect(path, readonly=readonly)
        try:
            if readonly:
                _check_readable(conn, path)
            else:
                db.ensure_schema(conn, COMPONENT, MIGRATIONS)
        except BaseException:
            conn.close()
            raise
        conn.isolation_level = None  # transactions are explicit (BEGIN IMMEDIATE) below
        self._conn: sqlite3.Connection | None = conn
        self._stale_names = self._load_stale_names()

    @classmethod
    def open(cls, path: Path, **kwargs: Any) -> TimeSeriesStore:
        return cls(path, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            if not self.readonly:
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            self._conn = None

    def __enter__(self) -> TimeSeriesStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def rejected(self) -> int:
        """Samples this instance skipped: non-finite values or timestamps, invalid names."""
        return self._rejected

    # --- writing ---------------------------------------------------------------------------------

    def write(self, samples: Iterable[Sample]) -> int:
        """Store samples in one transaction; returns how many were stored.

        A sample at the same series and millisecond as a stored one replaces it.
        """
        batch = list(samples)
        with self._lock:
            conn = self._writable()
            if not batch:
                return 0
            rows: list[tuple[int, int, float]] = []
            newest: dict[str, int] = {}
            rejected = 0
            created: dict[tuple[str, Labels], int] = {}  # cached only once committed
            with self._transaction(conn):
                for sample in batch:
                    try:
                        value = float(sample.value)
                        usable = math.isfinite(value) and math.isfinite(sample.ts)
                    except (TypeError, ValueError):  # a collector bug must not lose the whole batch
                        usable = False
                    if not usable:
                        rejected += 1
                        continue
                    key = (sample.name, sample.labels)
                    series_id = self._ids.get(key) or created.get(key)
                    if series_id is None:
                        series_id = self._create_series(conn, sample)
                        if series_id is None:
                            rejected += 1
                            continue
                        created[key] = series_id
                    ts_ms = round(sample.ts * 1000)
                    rows.append((series_id, ts_ms, value))
                    if sample.name in self._stale_names:
                        newest[sample.name] = max(ts_ms, newest.get(sample.name, ts_ms))
                conn.executemany(
                    "INSERT INTO tsdb_samples (series_id, ts_ms, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (series_id, ts_ms) DO UPDATE SET value = excluded.value",
                    rows,
                )
                if newest:
                    # a fresh sample clears the stale marks set at or before it
                    conn.executemany(
                        "DELETE FROM tsdb_stale WHERE name = ? AND last_ms <= ?", list(newest.items())
                    )
            self._ids.update(created)
            self._rejected += rejected
            if newest:
                self._stale_names = self._load_stale_names()
            return len(rows)

    def mark_stale(self, source: str, names: Sequence[str], ts: float, reason: str) -> None:
        """Record that `source` failed at `ts`: series of `names` read as stale until written again."""
        if not names:
            return
        ts_ms = round(ts * 1000)
        with self._lock:
            conn = self._writable()
            with self._transaction(conn):
                conn.executemany(
                    "INSERT INTO tsdb_stale (source, name, since_ms, last_ms, reason) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (source, name) DO UPDATE SET last_ms = excluded.last_ms, "
                    "reason = excluded.reason",
                    [(source, name, ts_ms, ts_ms, reason[:500]) for name in dict.fromkeys(names)],
                )
            self._stale_names.update(names)

    def maintain(
        self, now: float | None = None, settings: StoreSettings | None = None
    ) -> rollup.MaintenanceResult:
        """Roll closed buckets up (1 m, then 1 h), then delete what is past its retention.

        Idempotent and incremental; the keeper calls it every minute. Each step commits on its
        own, so a long first pass never holds the write lock for all of it.
        """
        settings = settings or self.settings
        now_ms = round((self._clock() if now is None else now) * 1000)
        with self._lock:
            conn = self._writable()
            with self._transaction(conn):
                minutes, minute_from, _ = rollup.roll_up_minutes(conn, now_ms, settings)
            with self._transaction(conn):
                hours, _ = rollup.roll_up_hours(conn, now_ms, settings, minute_from)
            with self._transaction(conn):
                deleted_raw, deleted_minute, deleted_hour = rollup.delete_expired(conn, now_ms, settings)
                removed = rollup.delete_empty_series(conn)
            if removed:
                self._ids.clear()
            marks = read_watermarks(conn)
        return rollup.MaintenanceResult(
            minute_buckets=minutes,
            hour_buckets=hours,
            deleted_raw=deleted_raw,
            deleted_minute=deleted_minute,
            deleted_hour=deleted_hour,
            series_removed=removed,
            minute_done_until=marks.minute_ms / 1000 if marks.minute_ms else None,
            hour_done_until=marks.hour_ms / 1000 if marks.hour_ms else None,
        )

    # --- reading ---------------------------------------------------------------------------------

    def range(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution | None = None,
        step: float | None = None,
    ) -> list[Series]:
        """Points of every series of `name` matching all `matchers`, start <= ts <= end.

        `resolution=None` picks the finest resolution whose retention covers `start` (with a
        `step`: the coarsest of those no wider than the step). `step` (seconds) averages points
        into buckets of that width from `start`, so a chart can ask for ~300 points over any span.
        Rollup points carry their bucket's start as `ts` and its average as `value`. A series
        with no point in the range is left out, as Prometheus does.
        """
        if step is not None and not step > 0:
            raise UsageError(f"step must be a positive number of seconds, not {step}")
        check_matchers(matchers)
        with self._lock:
            conn = self._open_conn()
            chosen = (
                resolution
                if resolution is not None
                else choose_resolution(start, self._clock(), self.settings, step)
            )
            watermarks = read_watermarks(conn)
            stale = self._stale_of(conn, name)
            out = []
            for row in self._matching(conn, name, matchers):
                points = read_points(
                    conn,
                    row.id,
                    chosen,
                    round(start * 1000),
                    round(end * 1000),
                    step_ms=None if step is None else max(1, round(step * 1000)),
                    watermarks=watermarks,
                )
                if points:  # like Prometheus: a series with nothing in the range is left out
                    out.append(Series(name, row.labels, tuple(points), chosen, stale is not None))
        return out

    def latest(self, name: str, matchers: Sequence[Matcher] = (), *, at: float | None = None) -> list[Series]:
        """The newest point at or before `at` of each matching series (series with none are left out).

        Raw samples first; a series whose raw samples expired answers from its newest rollup
        (`last` of the bucket, stamped with the bucket's start, and that resolution).
        """
        check_matchers(matchers)
        at_ms = round((self._clock() if at is None else at) * 1000)
        with self._lock:
            conn = self._open_conn()
            stale = self._stale_of(conn, name)
            out = []
            for row in self._matching(conn, name, matchers):
                for resolution, column in (
                    (Resolution.RAW, "value"),
                    (Resolution.MINUTE, "last"),
                    (Resolution.HOUR, "last"),
                ):
                    found = conn.execute(
                        f"SELECT ts_ms, {column} FROM {TABLE[resolution]} "  # noqa: S608 - fixed names
                        "WHERE series_id = ? AND ts_ms <= ? ORDER BY ts_ms DESC LIMIT 1",
                        (row.id, at_ms),
                    ).fetchone()
                    if found is not None:
                        point = Point(found[0] / 1000, float(found[1]))
                        out.append(Series(name, row.labels, (point,), resolution, stale is not None))
                        break
        return out

    def rollups(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution,
    ) -> list[RollupSeries]:
        """The closed, rolled-up buckets (min/max/avg/count/last) with start <= bucket start <= end.

        Only what maintenance has rolled up: the open bucket is not there yet.
        """
        if resolution is Resolution.RAW:
            raise UsageError("raw samples have no rollups", hint="ask for Resolution.MINUTE or HOUR")
        check_matchers(matchers)
        with self._lock:
            conn = self._open_conn()
            out = []
            for row in self._matching(conn, name, matchers):
                rows = conn.execute(
                    f"SELECT ts_ms, min, max, avg, count, last FROM {TABLE[resolution]} "  # noqa: S608
                    "WHERE series_id = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms",
                    (row.id, round(start * 1000), round(end * 1000)),
                ).fetchall()
                buckets = tuple(Bucket(r[0] / 1000, r[1], r[2], r[3], int(r[4]), r[5]) for r in rows)
                out.append(RollupSeries(name, row.labels, resolution, buckets))
        return out

    def names(self) -> list[str]:
        with self._lock:
            rows = self._open_conn().execute("SELECT DISTINCT name FROM tsdb_series ORDER BY name").fetchall()
        return [str(r[0]) for r in rows]

    def series(self, name: str | None = None, matchers: Sequence[Matcher] = ()) -> list[SeriesInfo]:
        """Every stored series (of `name`, when given), sorted by name and labels."""
        check_matchers(matchers)
        with self._lock:
            conn = self._open_conn()
            names = [name] if name is not None else self.names()
            out = []
            for metric in names:
                stale = self._stale_of(conn, metric)
                for row in self._matching(conn, metric, matchers):
                    first, last = self._span(conn, row.id)
                    out.append(
                        SeriesInfo(
                            name=metric,
                            labels=row.labels,
                            kind=row.kind,
                            first_ts=first,
                            last_ts=last,
                            stale=stale is not None,
                            stale_reason=stale.reason if stale else None,
                            stale_since=stale.since_ms / 1000 if stale else None,
                            stale_source=stale.source if stale else None,
                        )
                    )
        return out

    def stats(self) -> StoreStats:
        with self._lock:
            conn = self._open_conn()

            def count(sql: str) -> int:
                return int(conn.execute(sql).fetchone()[0])

            stats = StoreStats(
                series=count("SELECT count(*) FROM tsdb_series"),
                raw_rows=count("SELECT count(*) FROM tsdb_samples"),
                minute_rows=count("SELECT count(*) FROM tsdb_rollup_1m"),
                hour_rows=count("SELECT count(*) FROM tsdb_rollup_1h"),
                stale_metrics=count("SELECT count(DISTINCT name) FROM tsdb_stale"),
                file_bytes=sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()),
                rejected_samples=self._rejected,
            )
        return stats

    # --- internals -------------------------------------------------------------------------------

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError("the time-series store is closed", hint="this is a bug; report it")
        return self._conn

    def _writable(self) -> sqlite3.Connection:
        conn = self._open_conn()
        if self.readonly:
            raise LedgerError(
                f"the time-series store at {self.path} was opened read-only",
                hint="only the keeper (`clawkeeper up`) writes to it",
            )
        return conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front: other components write to the same file, and a
        # deferred transaction that reads first could fail to upgrade instead of waiting its turn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _create_series(self, conn: sqlite3.Connection, sample: Sample) -> int | None:
        if not _METRIC_NAME.match(sample.name) or sample.kind not in _KINDS:
            return None
        labels = tuple(sorted((str(k), str(v)) for k, v in sample.labels))
        row = conn.execute(
            "INSERT INTO tsdb_series (name, labels_json, kind) VALUES (?, ?, ?) "
            "ON CONFLICT (name, labels_json) DO UPDATE SET kind = excluded.kind RETURNING id",
            (sample.name, _labels_json(labels), MetricKind(sample.kind).value),
        ).fetchone()
        return int(row[0])

    def _matching(self, conn: sqlite3.Connection, name: str, matchers: Sequence[Matcher]) -> list[_SeriesRow]:
        rows = conn.execute(
            "SELECT id, labels_json, kind FROM tsdb_series WHERE name = ? ORDER BY labels_json", (name,)
        ).fetchall()
        out = []
        for series_id, labels_json, kind in rows:
            labels: Labels = tuple(sorted(json.loads(labels_json).items()))
            if matches(labels, matchers):
                out.append(_SeriesRow(int(series_id), labels, _kind(kind)))
        return out

    def _span(self, conn: sqlite3.Connection, series_id: int) -> tuple[float | None, float | None]:
        firsts, lasts = [], []
        for table in TABLE.values():
            lo, hi = conn.execute(
                f"SELECT min(ts_ms), max(ts_ms) FROM {table} WHERE series_id = ?",  # noqa: S608
                (series_id,),
            ).fetchone()
            if lo is not None:
                firsts.append(int(lo))
                lasts.append(int(hi))
        if not firsts:
            return None, None
        return min(firsts) / 1000, max(lasts) / 1000

    def _stale_of(self, conn: sqlite3.Connection, name: str) -> _Stale | None:
        row = conn.execute(
            "SELECT source, since_ms, reason FROM tsdb_stale WHERE name = ? ORDER BY last_ms DESC LIMIT 1",
            (name,),
        ).fetchone()
        return None if row is None else _Stale(str(row[0]), int(row[1]), str(row[2]))

    def _load_stale_names(self) -> set[str]:
        rows = self._open_conn().execute("SELECT DISTINCT name FROM tsdb_stale").fetchall()
        return {str(r[0]) for r in rows}


def _check_readable(conn: sqlite3.Connection, path: Path) -> None:
    version = db.schema_version(conn, COMPONENT)
    if version > len(MIGRATIONS):
        raise LedgerError(
            f"the monitor database's {COMPONENT} tables are version {version}, newer than this "
            f"clawkeeper knows ({len(MIGRATIONS)})",
            hint="upgrade clawkeeper, or point monitor.store.path at a new file",
        )
    if version == 0:
        raise LedgerError(
            f"the monitor database at {path} holds no time series yet",
            hint="start the keeper with `clawkeeper up` and let it collect for a minute",
        )
    if version < len(MIGRATIONS):
        raise LedgerError(
            f"the monitor database at {path} was written by an older clawkeeper",
            hint="start the keeper once with this version (`clawkeeper up`) to migrate it",
        )


def _labels_json(labels: Labels) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _kind(value: str) -> MetricKind:
    try:
        return MetricKind(value)
    except ValueError:
        return MetricKind.GAUGE
