"""Maintenance: 1-minute and 1-hour rollups (correct, incremental, idempotent) and retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clawkeeper.monitor.model import Point, Resolution, Sample
from clawkeeper.monitor.settings import StoreSettings
from clawkeeper.monitor.tsdb import Bucket, TimeSeriesStore
from tests.unit.monitor.tsdb.conftest import NOW, Clock

HOUR = 3600.0
T0 = NOW - 2 * HOUR  # a whole hour


def _rollup_rows(db_path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db_path) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()  # noqa: S608
            for table in ("tsdb_rollup_1m", "tsdb_rollup_1h", "tsdb_rollup_state")
        }


def test_minute_rollups_hold_min_max_avg_count_last(store: TimeSeriesStore, clock: Clock) -> None:
    # minute T0: 3, 1, 4, 1, 5 (last at +50 s); minute T0+60: 9, 2
    values = [(0, 3.0), (10, 1.0), (20, 4.0), (30, 1.0), (50, 5.0), (60, 9.0), (70, 2.0)]
    store.write([Sample("host_cpu_percent", v, T0 + dt) for dt, v in values])
    clock.now = T0 + 125  # both minutes closed

    result = store.maintain()

    [series] = store.rollups("host_cpu_percent", start=T0, end=clock.now, resolution=Resolution.MINUTE)
    assert series.buckets == (
        Bucket(T0, min=1.0, max=5.0, avg=2.8, count=5, last=5.0),
        Bucket(T0 + 60, min=2.0, max=9.0, avg=5.5, count=2, last=2.0),
    )
    assert result.minute_buckets == 2
    assert result.minute_done_until == T0 + 120


def test_hour_rollups_weight_minutes_by_their_sample_count(store: TimeSeriesStore, clock: Clock) -> None:
    # six samples of 10 in the first minute, one of 70 in the last minute of the hour
    samples = [Sample("host_load1", 10.0, T0 + 10 * i) for i in range(6)]
    samples.append(Sample("host_load1", 70.0, T0 + HOUR - 5))
    store.write(samples)
    clock.now = T0 + HOUR + 60

    result = store.maintain()

    [series] = store.rollups("host_load1", start=T0, end=clock.now, resolution=Resolution.HOUR)
    assert series.buckets == (Bucket(T0, min=10.0, max=70.0, avg=pytest.approx(130 / 7), count=7, last=70.0),)
    assert result.hour_buckets == 1
    assert result.hour_done_until == T0 + HOUR


def test_open_buckets_are_not_rolled_up_but_reads_include_them(store: TimeSeriesStore, clock: Clock) -> None:
    store.write([Sample("gateway_sessions", 4.0, T0 + 10), Sample("gateway_sessions", 6.0, T0 + 70)])
    clock.now = T0 + 90  # the second minute is still open

    store.maintain()

    [rolled] = store.rollups("gateway_sessions", start=T0, end=clock.now, resolution=Resolution.MINUTE)
    assert [b.ts for b in rolled.buckets] == [T0]
    [read] = store.range("gateway_sessions", start=T0, end=clock.now, resolution=Resolution.MINUTE)
    assert read.points == (Point(T0, 4.0), Point(T0 + 60, 6.0))  # the open minute, from raw samples


def test_maintenance_is_incremental_and_idempotent(
    db_path: Path, store: TimeSeriesStore, clock: Clock
) -> None:
    store.write([Sample("host_memory_used_percent", float(i), T0 + 10 * i) for i in range(360)])  # 1 h
    clock.now = T0 + HOUR
    first = store.maintain()
    after_first = _rollup_rows(db_path)

    again = store.maintain()  # nothing new: re-rolls its look-back to the same rows

    assert _rollup_rows(db_path) == after_first
    assert first.minute_buckets == 60
    assert again.minute_buckets <= 5  # only the five-minute look-back, not the whole hour

    store.write([Sample("host_memory_used_percent", 1000.0, T0 + HOUR + 10 * i) for i in range(12)])
    clock.now = T0 + HOUR + 150
    later = store.maintain()

    rows = _rollup_rows(db_path)
    assert rows["tsdb_rollup_1m"][:55] == after_first["tsdb_rollup_1m"][:55]  # older buckets untouched
    assert len(rows["tsdb_rollup_1m"]) == 62
    assert later.minute_done_until == T0 + HOUR + 120
    [hour] = store.rollups("host_memory_used_percent", start=T0, end=clock.now, resolution=Resolution.HOUR)
    assert hour.buckets == (Bucket(T0, 0.0, 359.0, 179.5, 360, 359.0),)


def test_a_late_sample_within_the_look_back_lands_in_its_bucket(store: TimeSeriesStore, clock: Clock) -> None:
    store.write([Sample("gateway_rpc_ok", 1.0, T0 + 5)])
    clock.now = T0 + 70
    store.maintain()

    store.write([Sample("gateway_rpc_ok", 0.0, T0 + 30)])  # a slow collector, stamped at its start
    clock.now = T0 + 130
    store.maintain()

    [series] = store.rollups("gateway_rpc_ok", start=T0, end=clock.now, resolution=Resolution.MINUTE)
    assert series.buckets[0] == Bucket(T0, 0.0, 1.0, 0.5, 2, 0.0)


def test_each_resolution_keeps_its_own_retention(db_path: Path, clock: Clock) -> None:
    settings = StoreSettings(
        path=db_path, raw_retention=HOUR, minute_retention=3 * HOUR, hour_retention=24 * HOUR
    )
    start = NOW - 30 * HOUR
    with TimeSeriesStore(db_path, settings=settings, clock=clock) as store:
        store.write([Sample("host_swap_used_percent", 1.0, start + 60 * i) for i in range(30 * 60)])  # 30 h

        result = store.maintain(NOW)

        raw = store.range("host_swap_used_percent", start=start, end=NOW, resolution=Resolution.RAW)
        minutes = store.rollups("host_swap_used_percent", start=start, end=NOW, resolution=Resolution.MINUTE)
        hours = store.rollups("host_swap_used_percent", start=start, end=NOW, resolution=Resolution.HOUR)

    assert min(p.ts for p in raw[0].points) >= NOW - HOUR
    assert min(b.ts for b in minutes[0].buckets) >= NOW - 3 * HOUR
    assert len(minutes[0].buckets) == 180
    assert [b.ts for b in hours[0].buckets] == [NOW - 24 * HOUR + h * HOUR for h in range(24)]
    assert result.deleted_raw == 29 * 60
    assert result.deleted_minute == 27 * 60
    assert result.deleted_hour == 6


def test_series_with_nothing_left_are_forgotten_and_come_back_when_written(
    db_path: Path, clock: Clock
) -> None:
    settings = StoreSettings(path=db_path, raw_retention=60, minute_retention=60, hour_retention=60)
    with TimeSeriesStore(db_path, settings=settings, clock=clock) as store:
        store.write([Sample("update_available", 1.0, NOW - 5 * HOUR)])

        result = store.maintain(NOW)

        assert result.series_removed == 1
        assert store.names() == []
        store.write([Sample("update_available", 0.0, NOW)])  # the cached id must not be reused
        assert [s.points for s in store.latest("update_available")] == [(Point(NOW, 0.0),)]


def test_reads_pick_the_finest_resolution_that_covers_the_start(db_path: Path, clock: Clock) -> None:
    settings = StoreSettings(
        path=db_path, raw_retention=HOUR, minute_retention=6 * HOUR, hour_retention=48 * HOUR
    )
    with TimeSeriesStore(db_path, settings=settings, clock=clock) as store:
        store.write([Sample("host_load5", 2.0, NOW - 10)])

        def chosen(back: float, step: float | None = None) -> Resolution:
            [series] = store.range("host_load5", start=NOW - back, end=NOW, step=step)
            return series.resolution

        assert chosen(30 * 60) is Resolution.RAW
        assert chosen(2 * HOUR) is Resolution.MINUTE
        assert chosen(24 * HOUR) is Resolution.HOUR
        assert chosen(30 * 60, step=120) is Resolution.MINUTE  # coarsest that still fits the step
        assert chosen(30 * 60, step=7200) is Resolution.HOUR
        [forced] = store.range("host_load5", start=NOW - 24 * HOUR, end=NOW, resolution=Resolution.RAW)
        assert forced.points == (Point(NOW - 10, 2.0),)


def test_coarse_reads_join_rollups_with_the_newer_tail(store: TimeSeriesStore, clock: Clock) -> None:
    # 3 hours of one sample a minute, value = the minute's index; maintenance ran 1.5 hours in
    store.write([Sample("keeper_cpu_percent", float(m), T0 - HOUR + 60 * m) for m in range(180)])
    clock.now = T0 + 30 * 60
    store.maintain()
    clock.now = T0 + 2 * HOUR

    [series] = store.range("keeper_cpu_percent", start=T0 - HOUR, end=clock.now, resolution=Resolution.HOUR)

    # hour 0 from the 1 h table, hour 1 from 1 m rollups + raw, hour 2 from raw only (none rolled)
    assert series.points == (Point(T0 - HOUR, 29.5), Point(T0, 89.5), Point(T0 + HOUR, 149.5))


def test_a_step_averages_points_into_buckets_from_the_start(store: TimeSeriesStore) -> None:
    name = "host_network_receive_bytes_per_second"
    store.write([Sample(name, float(i), NOW - 120 + 10 * i) for i in range(12)])

    [series] = store.range(name, start=NOW - 120, end=NOW, resolution=Resolution.RAW, step=60)

    assert series.points == (Point(NOW - 120, 2.5), Point(NOW - 60, 8.5))


def test_a_step_over_rollups_weights_by_sample_count(store: TimeSeriesStore, clock: Clock) -> None:
    samples = [Sample("host_load15", 0.0, T0 + 10 * i) for i in range(6)]  # minute 0: six zeros
    samples.append(Sample("host_load15", 7.0, T0 + 60))  # minute 1: one seven
    store.write(samples)
    clock.now = T0 + 180
    store.maintain()

    [series] = store.range("host_load15", start=T0, end=T0 + 119, resolution=Resolution.MINUTE, step=120)

    assert series.points == (Point(T0, 1.0),)  # (6 * 0 + 1 * 7) / 7, not (0 + 7) / 2
