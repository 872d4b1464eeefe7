"""Writing and reading: round trip, matchers, latest, staleness, reopening, other readers, schema."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import pytest

from clawkeeper.errors import LedgerError, UsageError
from clawkeeper.monitor.model import (
    Matcher,
    MatchOp,
    MetricKind,
    MetricReader,
    MetricWriter,
    Point,
    Resolution,
    Sample,
    labels_of,
)
from clawkeeper.monitor.settings import StoreSettings
from clawkeeper.monitor.tsdb import TimeSeriesStore
from tests.unit.monitor.tsdb.conftest import NOW, Clock


def test_store_implements_the_monitor_interfaces(store: TimeSeriesStore) -> None:
    assert isinstance(store, MetricWriter)
    assert isinstance(store, MetricReader)


def test_written_samples_read_back_in_time_order_within_the_range(store: TimeSeriesStore) -> None:
    labels = labels_of(mountpoint="/")
    stored = store.write(
        [
            Sample("host_disk_used_percent", 51.5, NOW - 20, labels),
            Sample("host_disk_used_percent", 50.25, NOW - 30, labels),
            Sample("host_disk_used_percent", 52.0, NOW - 10, labels),
            Sample("host_disk_used_percent", 49.0, NOW - 500, labels),  # before the range
        ]
    )
    assert stored == 4

    [series] = store.range("host_disk_used_percent", start=NOW - 60, end=NOW)

    assert series.labels == labels
    assert series.resolution is Resolution.RAW
    assert series.points == (Point(NOW - 30, 50.25), Point(NOW - 20, 51.5), Point(NOW - 10, 52.0))
    assert store.names() == ["host_disk_used_percent"]


def test_timestamps_keep_millisecond_precision_and_a_rewrite_replaces(store: TimeSeriesStore) -> None:
    store.write([Sample("keeper_up", 1.0, NOW - 1.234)])
    store.write([Sample("keeper_up", 0.0, NOW - 1.234)])  # same series, same millisecond

    [series] = store.range("keeper_up", start=NOW - 2, end=NOW)

    assert series.points == (Point(NOW - 1.234, 0.0),)


def test_nan_infinite_and_non_numeric_values_are_skipped_and_counted(store: TimeSeriesStore) -> None:
    stored = store.write(
        [
            Sample("gateway_probe_latency_seconds", math.nan, NOW - 3),
            Sample("gateway_probe_latency_seconds", math.inf, NOW - 2),
            Sample("gateway_probe_latency_seconds", -math.inf, NOW - 1),
            Sample("gateway_probe_latency_seconds", 0.012, NOW),
            Sample("not a metric name", 1.0, NOW),
            Sample("gateway_probe_latency_seconds", "slow", NOW - 4),  # type: ignore[arg-type]
        ]
    )

    assert stored == 1
    assert store.rejected == 5
    assert store.stats().rejected_samples == 5
    [series] = store.range("gateway_probe_latency_seconds", start=NOW - 10, end=NOW)
    assert series.points == (Point(NOW, 0.012),)
    assert store.names() == ["gateway_probe_latency_seconds"]


def _write_hosts(store: TimeSeriesStore) -> None:
    store.write(
        [
            Sample("host_load1", 1.0, NOW, labels_of(host="alpha", env="prod")),
            Sample("host_load1", 2.0, NOW, labels_of(host="beta", env="prod")),
            Sample("host_load1", 3.0, NOW, labels_of(host="gamma", env="staging")),
            Sample("host_load1", 4.0, NOW, labels_of(env="dev")),  # no host label
        ]
    )


@pytest.mark.parametrize(
    ("matchers", "values"),
    [
        ([], [1.0, 2.0, 3.0, 4.0]),
        ([Matcher("host", MatchOp.EQ, "beta")], [2.0]),
        ([Matcher("host", MatchOp.NE, "beta")], [1.0, 3.0, 4.0]),  # a missing label is "" (!= beta)
        ([Matcher("host", MatchOp.RE, "alpha|gamma")], [1.0, 3.0]),
        ([Matcher("host", MatchOp.RE, "alp")], []),  # regexes match the whole value
        ([Matcher("host", MatchOp.NRE, "a.*")], [2.0, 3.0, 4.0]),
        ([Matcher("host", MatchOp.EQ, "")], [4.0]),  # series without the label
        ([Matcher("env", MatchOp.EQ, "prod"), Matcher("host", MatchOp.NE, "alpha")], [2.0]),
    ],
)
def test_label_matchers_select_series_like_prometheus(
    store: TimeSeriesStore, matchers: list[Matcher], values: list[float]
) -> None:
    _write_hosts(store)

    found = store.range("host_load1", matchers, start=NOW - 1, end=NOW)

    assert sorted(s.points[0].value for s in found) == values


def test_an_invalid_regex_is_a_usage_error(store: TimeSeriesStore) -> None:
    _write_hosts(store)
    with pytest.raises(UsageError, match="invalid regular expression"):
        store.range("host_load1", [Matcher("host", MatchOp.RE, "(")], start=NOW - 1, end=NOW)


def test_latest_is_the_newest_point_at_or_before_the_given_time(store: TimeSeriesStore) -> None:
    store.write([Sample("gateway_ready", float(i % 2), NOW - 100 + 10 * i) for i in range(10)])

    [newest] = store.latest("gateway_ready")
    [earlier] = store.latest("gateway_ready", at=NOW - 45)

    assert newest.points == (Point(NOW - 10, 1.0),)
    assert earlier.points == (Point(NOW - 50, 1.0),)
    assert store.latest("gateway_ready", at=NOW - 1000) == []
    assert store.latest("no_such_metric") == []


def test_latest_answers_from_rollups_once_raw_samples_expired(db_path: Path, clock: Clock) -> None:
    settings = StoreSettings(path=db_path, raw_retention=600)
    with TimeSeriesStore(db_path, settings=settings, clock=clock) as store:
        store.write(
            [Sample("backup_snapshots", 7.0, NOW - 3600), Sample("backup_snapshots", 8.0, NOW - 3590)]
        )
        store.maintain(NOW)
        assert store.range("backup_snapshots", start=NOW - 7200, end=NOW, resolution=Resolution.RAW) == []

        [series] = store.latest("backup_snapshots")

    assert series.resolution is Resolution.MINUTE
    assert series.points == (Point(NOW - 3600, 8.0),)  # the bucket's last value, at its start


def test_stale_marks_show_until_the_metric_is_written_again(store: TimeSeriesStore) -> None:
    store.write([Sample("gateway_live", 1.0, NOW - 20), Sample("gateway_ready", 1.0, NOW - 20)])

    store.mark_stale("gateway", ["gateway_live", "gateway_ready"], NOW - 10, "ConnectError: refused")

    [live] = store.latest("gateway_live")
    assert live.stale
    [info] = store.series("gateway_live")
    assert info.stale and info.stale_reason == "ConnectError: refused"
    assert info.stale_since == NOW - 10 and info.stale_source == "gateway"
    assert store.stats().stale_metrics == 2

    store.write([Sample("gateway_live", 1.0, NOW - 15)])  # older than the failure: still stale
    assert store.latest("gateway_live")[0].stale

    store.write([Sample("gateway_live", 1.0, NOW)])
    assert not store.latest("gateway_live")[0].stale
    assert not store.range("gateway_live", start=NOW - 60, end=NOW)[0].stale
    assert store.latest("gateway_ready")[0].stale  # not written: still stale
    assert store.stats().stale_metrics == 1


def test_a_repeated_failure_keeps_the_first_failure_time(store: TimeSeriesStore) -> None:
    store.mark_stale("backup", ["backup_snapshots"], NOW - 600, "repository locked")
    store.mark_stale("backup", ["backup_snapshots"], NOW - 300, "repository unreachable")

    assert store.series() == []  # stale marks alone create no series

    store.write([Sample("backup_snapshots", 3.0, NOW - 900)])
    [info] = store.series("backup_snapshots")
    assert info.stale_since == NOW - 600
    assert info.stale_reason == "repository unreachable"


def test_data_and_stale_marks_survive_close_and_reopen(db_path: Path, clock: Clock) -> None:
    labels = labels_of(level="error")
    with TimeSeriesStore(db_path, clock=clock) as store:
        store.write([Sample("agent_log_lines_total", 5.0, NOW - 10, labels, MetricKind.COUNTER)])
        store.mark_stale("agent_log", ["agent_log_lines_total"], NOW - 5, "log file vanished")

    with TimeSeriesStore(db_path, clock=clock) as reopened:
        reopened.write([Sample("agent_log_lines_total", 6.0, NOW - 8, labels, MetricKind.COUNTER)])
        [series] = reopened.range("agent_log_lines_total", start=NOW - 60, end=NOW)
        [info] = reopened.series()

    assert series.points == (Point(NOW - 10, 5.0), Point(NOW - 8, 6.0))  # one series, not two
    assert info.kind is MetricKind.COUNTER
    assert info.stale  # the write at NOW - 8 predates the failure at NOW - 5
    assert (info.first_ts, info.last_ts) == (NOW - 10, NOW - 8)


def test_a_readonly_reader_in_another_connection_sees_committed_writes(
    db_path: Path, store: TimeSeriesStore, clock: Clock
) -> None:
    store.write([Sample("keeper_up", 1.0, NOW - 20)])
    with TimeSeriesStore(db_path, readonly=True, clock=clock) as reader:
        assert [s.points for s in reader.range("keeper_up", start=NOW - 60, end=NOW)] == [
            (Point(NOW - 20, 1.0),)
        ]
        store.write([Sample("keeper_up", 1.0, NOW - 10)])  # while the reader stays open
        [series] = reader.range("keeper_up", start=NOW - 60, end=NOW)
        assert len(series.points) == 2

        with pytest.raises(LedgerError, match="read-only"):
            reader.write([Sample("keeper_up", 1.0, NOW)])


def test_a_missing_database_tells_the_user_to_start_the_keeper(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as raised:
        TimeSeriesStore(tmp_path / "absent.sqlite", readonly=True)
    assert "clawkeeper up" in raised.value.one_line()
    assert not (tmp_path / "absent.sqlite").exists()


def test_a_database_without_time_series_tables_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).close()
    with pytest.raises(LedgerError, match="no time series yet"):
        TimeSeriesStore(path, readonly=True)


@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_schema_version_is_refused(db_path: Path, readonly: bool) -> None:
    TimeSeriesStore(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'tsdb'")
    conn.close()

    with pytest.raises(LedgerError, match="newer than this clawkeeper knows"):
        TimeSeriesStore(db_path, readonly=readonly)


def test_a_closed_store_refuses_use_and_closes_twice_quietly(db_path: Path) -> None:
    store = TimeSeriesStore(db_path)
    store.close()
    store.close()
    with pytest.raises(LedgerError, match="closed"):
        store.names()


def test_one_store_serves_a_writer_thread_and_reader_threads(store: TimeSeriesStore) -> None:
    failures: list[BaseException] = []
    ticks = 200

    def write() -> None:
        try:
            for i in range(ticks):
                store.write([Sample("keeper_rss_bytes", float(i), NOW - ticks + i)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    def read() -> None:
        try:
            for _ in range(ticks):
                for series in store.range("keeper_rss_bytes", start=NOW - ticks, end=NOW):
                    values = [p.value for p in series.points]
                    assert values == sorted(values)  # never a half-written batch out of order
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(t.is_alive() for t in threads)
    assert failures == []
    [series] = store.range("keeper_rss_bytes", start=NOW - ticks, end=NOW)
    assert len(series.points) == ticks
