"""`build_collectors`: which collectors run, how often, and the metric names they promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.errors import AgentNotFound
from clawkeeper.monitor.collectors import COLLECTOR_NAMES, build_collectors
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.model import Collector, MetricKind

REPO = Path(__file__).resolve().parents[4]
TARGET = OpenClawTarget(label="live", binary=Path("/nonexistent/openclaw"), http_base="http://127.0.0.1:1")

# The names fixed across helpers (notes/metric-names.md): collectors must produce exactly these.
EXPECTED = {
    "host": {
        "host_cpu_percent", "host_load1", "host_load5", "host_load15", "host_memory_used_percent",
        "host_memory_available_bytes", "host_memory_total_bytes", "host_swap_used_percent",
        "host_disk_used_percent", "host_disk_free_bytes", "host_disk_read_bytes_per_second",
        "host_disk_write_bytes_per_second", "host_network_receive_bytes_per_second",
        "host_network_transmit_bytes_per_second",
    },
    "process": {
        "gateway_process_up", "gateway_process_cpu_percent", "gateway_process_rss_bytes",
        "gateway_process_open_fds", "gateway_process_threads", "gateway_process_restarts_total",
        "gateway_process_start_time_seconds",
    },
    "gateway": {
        "gateway_live", "gateway_ready", "gateway_started", "gateway_probe_latency_seconds",
        "gateway_readyz_failing", "gateway_event_loop_delay_p99_seconds", "gateway_event_loop_utilization",
        "gateway_version_info",
    },
    "gateway_rpc": {
        "gateway_rpc_ok", "gateway_active_work", "gateway_delivery_ingress_pressure",
        "gateway_model_runtime_degraded", "gateway_sessions", "agent_cron_jobs", "agent_tasks",
    },
    "agent_log": {
        "agent_log_lines_total", "agent_log_errors_total", "agent_log_warnings_total",
        "agent_model_failovers_total", "agent_log_read_errors_total",
    },
    "data_quality": {
        "data_messages_total", "data_replies_empty_total", "data_replies_failed_total",
        "data_tool_calls_total", "data_tool_call_failures_total", "data_records_missing_fields_total",
        "data_tool_call_failure_ratio",
        "agent_tokens_total", "agent_cost_usd_total",
    },
    "backup": {
        "backup_last_success_timestamp_seconds", "backup_last_success_age_seconds",
        "backup_last_verified_timestamp_seconds", "backup_last_verified_age_seconds", "backup_snapshots",
    },
    "releases": {"update_available", "update_security_patch_pending_seconds"},
    "keeper": {"keeper_up", "keeper_cpu_percent", "keeper_rss_bytes"},
}  # fmt: skip


def built(
    settings: Settings, tmp_path: Path, target: OpenClawTarget | None = TARGET
) -> dict[str, tuple[Collector, float]]:
    return {
        c.name: (c, interval) for c, interval in build_collectors(settings, target, None, cache_dir=tmp_path)
    }


def test_every_collector_with_its_default_interval(tmp_path: Path) -> None:
    collectors = built(Settings(), tmp_path)
    assert list(collectors) == list(COLLECTOR_NAMES)
    intervals = {name: interval for name, (_c, interval) in collectors.items()}
    assert intervals == {
        "host": 10.0,
        "process": 10.0,
        "gateway": 10.0,
        "gateway_rpc": 900.0,  # spawns the Node CLI: never at the keeper's tick
        "agent_log": 10.0,
        "data_quality": 60.0,
        "backup": 300.0,
        "releases": 3600.0,
        "keeper": 10.0,
    }


def test_each_collector_promises_exactly_the_agreed_metric_names(tmp_path: Path) -> None:
    for name, (collector, _interval) in built(Settings(), tmp_path).items():
        assert isinstance(collector, Collector)
        assert {m.name for m in collector.metrics} == EXPECTED[name], name
        for metric in collector.metrics:
            assert (metric.kind is MetricKind.COUNTER) == metric.name.endswith("_total"), metric.name


def test_settings_turn_collectors_off_and_change_intervals(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "monitor": {
                "interval": "30s",
                "collectors": {"releases": {"enabled": False}, "gateway_rpc": {"interval": "1h"}},
            }
        }
    )
    collectors = built(settings, tmp_path)
    assert "releases" not in collectors
    assert collectors["gateway_rpc"][1] == 3600.0
    assert collectors["host"][1] == 30.0
    assert collectors["data_quality"][1] == 60.0


def test_a_generic_agent_gets_no_openclaw_collectors(tmp_path: Path) -> None:
    settings = Settings.model_validate({"agent": {"kind": "generic"}})
    assert list(built(settings, tmp_path, target=None)) == ["host", "backup", "keeper"]


def test_building_needs_no_agent_and_a_missing_one_is_looked_up_rarely() -> None:
    calls: list[float] = []
    now = {"t": 0.0}

    def resolver(_settings: Settings) -> OpenClawTarget:
        calls.append(now["t"])
        raise AgentNotFound("no OpenClaw installation found")

    link = AgentLink(Settings(), None, resolver=resolver, retry_s=300.0, clock=lambda: now["t"])
    for t in (0.0, 10.0, 200.0):
        now["t"] = t
        with pytest.raises(AgentNotFound):
            link.target()
    assert calls == [0.0]
    now["t"] = 301.0
    with pytest.raises(AgentNotFound):
        link.target()
    assert calls == [0.0, 301.0]


def test_every_metric_is_documented(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "monitoring.md").read_text()
    section = doc.split("## Collectors", 1)[1].split("\n## ", 1)[0]
    for names in EXPECTED.values():
        for name in names:
            assert f"`{name}" in section, f"{name} is not described in docs/monitoring.md, Collectors"
