"""What /metrics contains: store series, ALERTS like Prometheus writes them, keeper health."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from clawkeeper.monitor.exporter import Exporter
from clawkeeper.monitor.model import AlertState, MetricInfo, MetricKind, labels_of
from clawkeeper.monitor.settings import ExporterSettings

from .fakes import NOW, FakeHealth, FakeReader, alert


def scrape(exporter: Exporter) -> dict[str, tuple[str, str, list[tuple[str, dict[str, str], float]]]]:
    """family name -> (type, help, [(sample name, labels, value)]), parsed back from the text."""
    text = exporter.exposition()[0].decode()
    return {
        f.name: (f.type, f.documentation, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def exporter_for(reader: FakeReader | None = None, **kwargs: object) -> Exporter:
    return Exporter(
        ExporterSettings(port=0),
        reader=reader,
        clock=lambda: NOW,
        process_metrics=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_store_series_are_prefixed_and_typed_with_help_from_metric_info() -> None:
    reader = FakeReader()
    reader.add("host_cpu_percent", 42.5)
    reader.add("host_disk_used_percent", 71.0, mountpoint="/")
    reader.add("host_disk_used_percent", 12.0, mountpoint="/var")
    reader.add("gateway_process_restarts_total", 3)
    reader.add("agent_log_errors_total", 7)  # no MetricInfo: the _total suffix marks a counter
    info = [
        MetricInfo("host_cpu_percent", MetricKind.GAUGE, "Whole-host CPU busy percent.", "percent"),
        MetricInfo("gateway_process_restarts_total", MetricKind.COUNTER, "Gateway PID changes."),
    ]

    families = scrape(exporter_for(reader, metric_info=info))

    assert families["clawkeeper_host_cpu_percent"] == (
        "gauge",
        "Whole-host CPU busy percent.",
        [("clawkeeper_host_cpu_percent", {}, 42.5)],
    )
    disk = families["clawkeeper_host_disk_used_percent"]
    assert sorted((s[1]["mountpoint"], s[2]) for s in disk[2]) == [("/", 71.0), ("/var", 12.0)]
    restarts = families["clawkeeper_gateway_process_restarts"]
    assert restarts[0] == "counter"
    assert restarts[2] == [("clawkeeper_gateway_process_restarts_total", {}, 3.0)]
    assert families["clawkeeper_agent_log_errors"][0] == "counter"


def test_stale_and_too_old_series_are_not_exported() -> None:
    reader = FakeReader()
    reader.add("gateway_ready", 1, stale=True)
    reader.add("host_disk_free_bytes", 5e9, mountpoint="/", ts=NOW - 10)
    reader.add("host_disk_free_bytes", 9e9, mountpoint="/mnt/gone", ts=NOW - 4000)

    families = scrape(exporter_for(reader, max_age_s=900))

    assert "clawkeeper_gateway_ready" not in families
    free = families["clawkeeper_host_disk_free_bytes"][2]
    assert [s[1]["mountpoint"] for s in free] == ["/"]


def test_alerts_are_exported_as_prometheus_does() -> None:
    alerts = [
        alert("GatewayNotReady", AlertState.FIRING, active_since=NOW - 300),
        alert("HostHighCpu", AlertState.PENDING, labels_of(instance="h1"), active_since=NOW - 60),
        alert("HostMemoryPressure", AlertState.RESOLVED),
        alert("HostSwapPressure", AlertState.INACTIVE),
    ]

    families = scrape(exporter_for(alerts=lambda: alerts))

    series = {(s[1]["alertname"], s[1]["alertstate"]): s for s in families["ALERTS"][2]}
    assert set(series) == {("GatewayNotReady", "firing"), ("HostHighCpu", "pending")}
    assert series[("HostHighCpu", "pending")][1] == {
        "alertname": "HostHighCpu",
        "alertstate": "pending",
        "instance": "h1",
        "severity": "critical",
    }
    assert all(s[2] == 1.0 for s in series.values())
    for_state = {s[1]["alertname"]: (s[1], s[2]) for s in families["ALERTS_FOR_STATE"][2]}
    assert for_state["GatewayNotReady"][1] == NOW - 300
    assert "alertstate" not in for_state["HostHighCpu"][0]


def test_the_keeper_health_is_exported() -> None:
    families = scrape(exporter_for(FakeReader(), health=FakeHealth))

    def value(name: str, **labels: str) -> float:
        return next(s[2] for s in families[name][2] if all(s[1].get(k) == v for k, v in labels.items()))

    assert value("clawkeeper_keeper_up") == 1.0
    assert value("clawkeeper_keeper_healthy") == 1.0
    assert value("clawkeeper_keeper_last_tick_age_seconds") == 4.0
    assert value("clawkeeper_keeper_collector_ok", collector="host") == 1.0
    assert value("clawkeeper_keeper_collector_ok", collector="gateway") == 0.0
    assert value("clawkeeper_keeper_notifications", outcome="failed") == 1.0
    assert families["clawkeeper_keeper_notifications"][0] == "counter"
    assert value("clawkeeper_exporter_store_read_ok") == 1.0


def test_keeper_up_from_the_store_wins_over_the_health_fallback() -> None:
    reader = FakeReader()
    reader.add("keeper_up", 1)

    text = exporter_for(reader, health=FakeHealth).exposition()[0].decode()

    assert text.count("# TYPE clawkeeper_keeper_up gauge") == 1


def test_a_store_that_cannot_be_read_still_serves_alerts_and_health() -> None:
    reader = FakeReader(fail=True)
    firing = [alert("GatewayDown", AlertState.FIRING)]

    families = scrape(exporter_for(reader, alerts=lambda: firing, health=FakeHealth))

    assert families["clawkeeper_exporter_store_read_ok"][2][0][2] == 0.0
    assert len(families["ALERTS"][2]) == 1
    assert "clawkeeper_keeper_up" in families


def test_invalid_characters_in_names_and_labels_are_replaced() -> None:
    reader = FakeReader()
    reader.add("agent.tokens-used", 5, **{"model-name": "x"})

    families = scrape(exporter_for(reader))

    (sample,) = families["clawkeeper_agent_tokens_used"][2]
    assert sample[1] == {"model_name": "x"}
