"""The `/metrics` content, built fresh at every scrape from what the keeper already knows.

Three parts:

- the newest point of every series in the store, named `clawkeeper_<name>`, counters as counters,
  HELP from the collectors' `MetricInfo`. Series whose collector failed (stale), or older than
  `max_age_s`, are left out so Prometheus sees them vanish instead of a frozen value;
- `ALERTS{alertname, alertstate, …} 1` and `ALERTS_FOR_STATE{alertname, …} <active since>` for
  pending and firing alerts, exactly as Prometheus' own rule evaluation writes them;
- the keeper's own health: last tick age, collector states, notification counts.

No sample carries a timestamp: Prometheus then stamps them at scrape time and applies its normal
staleness handling when a series disappears.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from clawkeeper.monitor.model import Alert, AlertState, CollectorStatus, MetricInfo, MetricKind, MetricReader

PREFIX = "clawkeeper_"
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")


class KeeperHealth(Protocol):
    """What the exporter reads about the keeper (the daemon's KeeperSnapshot has all of it)."""

    @property
    def started_at(self) -> float: ...
    @property
    def now(self) -> float: ...
    @property
    def ticks(self) -> int: ...
    @property
    def last_tick(self) -> float | None: ...
    @property
    def interval_s(self) -> float: ...
    @property
    def collectors(self) -> Sequence[CollectorStatus]: ...
    @property
    def notifications_sent(self) -> int: ...
    @property
    def notification_failures(self) -> int: ...
    @property
    def stopping(self) -> bool: ...


AlertsSource = Callable[[], Sequence[Alert]]
HealthSource = Callable[[], KeeperHealth | None]


@dataclass(frozen=True)
class HealthReport:
    """`/healthz`: is the keeper's loop turning, and how are its collectors?"""

    healthy: bool
    keeper_up: bool | None  # None: no keeper attached (exporter alone)
    last_tick_age_s: float | None
    interval_s: float | None
    collectors: dict[str, str]  # name -> "ok" | "stale"
    store_read_ok: bool
    stopping: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "keeper_up": self.keeper_up,
            "last_tick_age_s": None if self.last_tick_age_s is None else round(self.last_tick_age_s, 3),
            "interval_s": self.interval_s,
            "stopping": self.stopping,
            "collectors": self.collectors,
            "store_read_ok": self.store_read_ok,
        }


def health_report(health: KeeperHealth | None, *, store_read_ok: bool) -> HealthReport:
    """Unhealthy when the last tick (or the start, before any tick) is older than 3 intervals."""
    if health is None:
        return HealthReport(True, None, None, None, {}, store_read_ok)
    reference = health.last_tick if health.last_tick is not None else health.started_at
    age = max(0.0, health.now - reference)
    return HealthReport(
        healthy=age <= 3 * health.interval_s,
        keeper_up=True,
        last_tick_age_s=None if health.last_tick is None else age,
        interval_s=health.interval_s,
        collectors={c.name: "ok" if c.ok else "stale" for c in health.collectors},
        store_read_ok=store_read_ok,
        stopping=health.stopping,
    )


def metric_name(name: str) -> str:
    """The exported name: `clawkeeper_` + the store name, with invalid characters replaced."""
    clean = _INVALID_NAME.sub("_", name)
    return clean if clean.startswith(PREFIX) else PREFIX + clean


def label_name(name: str) -> str:
    clean = _INVALID_LABEL.sub("_", name)
    if not clean or clean[0].isdigit():
        clean = "_" + clean
    return clean


class KeeperCollector:
    """A prometheus_client custom collector; `collect()` runs once per scrape (serialised)."""

    def __init__(
        self,
        reader: MetricReader | None,
        *,
        alerts: AlertsSource | None = None,
        health: HealthSource | None = None,
        metric_info: Iterable[MetricInfo] = (),
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._reader = reader
        self._alerts = alerts
        self._health = health
        self._info = {m.name: m for m in metric_info}
        self._max_age = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self.store_read_ok = True
        self.store_error: str | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self._clock()
            families = self._store_families(now)
            families += self._alert_families()
            families += self._self_families(now, exported={f.name for f in families})
            return families

    # --- (a) the store --------------------------------------------------------------------------

    def _store_families(self, now: float) -> list[Metric]:
        if self._reader is None:
            return []
        reader = self._reader
        families: list[Metric] = []
        try:
            for name in sorted(reader.names()):
                family = self._family(name, reader, now)
                if family is not None:
                    families.append(family)
        except Exception as exc:  # noqa: BLE001 - any store failure: serve the rest, flag it
            self.store_read_ok = False
            self.store_error = f"{type(exc).__name__}: {exc}"
            return []
        self.store_read_ok = True
        self.store_error = None
        return families

    def _family(self, name: str, reader: MetricReader, now: float) -> Metric | None:
        fresh = [
            (s.labels, point.value)
            for s in reader.latest(name, at=now)
            if not s.stale
            and (point := s.last) is not None
            and (self._max_age is None or now - point.ts <= self._max_age)
        ]
        if not fresh:
            return None
        info = self._info.get(name)
        kind = (
            info.kind
            if info is not None
            else (MetricKind.COUNTER if name.endswith("_total") else MetricKind.GAUGE)
        )
        help_text = info.help if info is not None else f"{name} (from the clawkeeper store)"
        family: Metric
        if kind is MetricKind.COUNTER:
            family = CounterMetricFamily(metric_name(name), help_text)
            sample_name = family.name + "_total"
        else:
            family = GaugeMetricFamily(metric_name(name), help_text)
            sample_name = family.name
        for labels, value in fresh:
            family.add_sample(sample_name, {label_name(k): v for k, v in labels}, value)
        return family

    # --- (b) alerts -----------------------------------------------------------------------------

    def _alert_families(self) -> list[Metric]:
        active = [
            a
            for a in (self._alerts() if self._alerts is not None else [])
            if a.state in (AlertState.PENDING, AlertState.FIRING)
        ]
        alerts = GaugeMetricFamily("ALERTS", "Pending and firing alerts of the clawkeeper rules.")
        for_state = GaugeMetricFamily(
            "ALERTS_FOR_STATE", "Unix time at which each pending or firing alert became active."
        )
        for alert in active:
            labels = {label_name(k): v for k, v in alert.labels}
            labels["alertname"] = alert.name
            alerts.add_sample("ALERTS", {**labels, "alertstate": alert.state.value}, 1.0)
            if alert.active_since is not None:
                for_state.add_sample("ALERTS_FOR_STATE", labels, alert.active_since)
        return [alerts, for_state]

    # --- (c) the keeper itself ------------------------------------------------------------------

    def _self_families(self, now: float, *, exported: set[str]) -> list[Metric]:
        store_ok = GaugeMetricFamily(
            PREFIX + "exporter_store_read_ok",
            "1 when the last scrape could read the metric store.",
            value=1.0 if self.store_read_ok else 0.0,
        )
        families: list[Metric] = [store_ok]
        health = self._health() if self._health is not None else None
        if health is None:
            return families
        report = health_report(health, store_read_ok=self.store_read_ok)
        if PREFIX + "keeper_up" not in exported:
            families.append(GaugeMetricFamily(PREFIX + "keeper_up", "1 while the keeper runs.", value=1.0))
        families.append(
            GaugeMetricFamily(
                PREFIX + "keeper_healthy",
                "1 when the keeper's loop ticked within the last three intervals.",
                value=1.0 if report.healthy else 0.0,
            )
        )
        if report.last_tick_age_s is not None:
            families.append(
                GaugeMetricFamily(
                    PREFIX + "keeper_last_tick_age_seconds",
                    "Seconds since the keeper's loop last ticked.",
                    value=report.last_tick_age_s,
                )
            )
        families.append(
            GaugeMetricFamily(
                PREFIX + "keeper_uptime_seconds",
                "Seconds since the keeper started.",
                value=max(0.0, health.now - health.started_at),
            )
        )
        families.append(
            CounterMetricFamily(PREFIX + "keeper_ticks", "Loop iterations since start.", value=health.ticks)
        )
        collector_ok = GaugeMetricFamily(
            PREFIX + "keeper_collector_ok",
            "1 when the collector's last run succeeded, 0 when its metrics are stale.",
            labels=["collector"],
        )
        for status in health.collectors:
            collector_ok.add_metric([status.name], 1.0 if status.ok else 0.0)
        notifications = CounterMetricFamily(
            PREFIX + "keeper_notifications",
            "Notification deliveries since start, by outcome.",
            labels=["outcome"],
        )
        notifications.add_metric(["sent"], health.notifications_sent)
        notifications.add_metric(["failed"], health.notification_failures)
        families += [collector_ok, notifications]
        return [f for f in families if f.name not in exported]
