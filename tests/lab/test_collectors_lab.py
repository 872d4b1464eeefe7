"""The keeper's collectors against a real OpenClaw 2026.9.6 gateway in the lab.

One shared instance (`lab_pool.get`); the only change made to it is a hot-reloadable config value
set to its default, which makes the gateway write to its log.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.lab.conftest import LabInstance, LabPool

from clawkeeper.config import Settings
from clawkeeper.effects import proc
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.agent_log import AgentLogCollector
from clawkeeper.monitor.collectors.gateway import GatewayCollector
from clawkeeper.monitor.collectors.gateway_pid import from_lock_file, titled_gateways
from clawkeeper.monitor.collectors.gateway_rpc import GatewayRpcCollector, cli_runner
from clawkeeper.monitor.collectors.process import ProcessCollector
from clawkeeper.monitor.model import CollectContext, Sample

pytestmark = pytest.mark.lab

VERSION = "2026.9.6"


def ctx() -> CollectContext:
    return CollectContext(now=time.time(), interval_s=10.0)


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    wanted = tuple(sorted(labels.items()))
    found = [s.value for s in samples if s.name == name and s.labels == wanted]
    return found[0] if found else None


@pytest.fixture(scope="module")
def instance(lab_pool: LabPool) -> LabInstance:
    return lab_pool.get(VERSION)


@pytest.fixture
def link(instance: LabInstance) -> AgentLink:
    return AgentLink(Settings(lab=instance.settings), instance.target)


def test_gateway_collector_sees_a_live_ready_gateway(link: AgentLink) -> None:
    samples = GatewayCollector(link).collect(ctx())
    assert value(samples, "gateway_live") == 1
    assert value(samples, "gateway_ready") == 1
    assert value(samples, "gateway_started") == 1
    assert value(samples, "gateway_readyz_failing") == 0
    assert (value(samples, "gateway_probe_latency_seconds", probe="healthz") or 0) > 0
    assert (value(samples, "gateway_probe_latency_seconds", probe="readyz") or 0) > 0
    assert value(samples, "gateway_event_loop_utilization") is not None
    assert value(samples, "gateway_version_info", version=VERSION) == 1


def test_process_collector_finds_the_gateway_by_the_lab_and_by_its_lock_file(
    instance: LabInstance, link: AgentLink
) -> None:
    collector = ProcessCollector.for_agent(link)
    samples = collector.collect(ctx())
    assert value(samples, "gateway_process_up") == 1
    assert (value(samples, "gateway_process_rss_bytes") or 0) > 0
    assert collector.found_by == "lab"
    state = instance.sandbox.state()
    assert state is not None
    assert collector.pid == state.processes["gateway"].pid
    # without lab.json, the lock file (written inside the PID namespace) leads to the same process
    found = from_lock_file(link.state_dir(), titled_gateways)
    assert found is not None and found.pid == collector.pid
    samples = collector.collect(ctx())
    assert value(samples, "gateway_process_restarts_total") == 0
    assert value(samples, "gateway_process_cpu_percent") is not None


def test_rpc_collector_reads_the_status_health_and_cron_rpcs(link: AgentLink) -> None:
    samples = GatewayRpcCollector(cli_runner(link)).collect(ctx())
    assert value(samples, "gateway_rpc_ok") == 1
    assert value(samples, "gateway_active_work", kind="rootRequests") is not None
    # a gateway that has not loaded a model runtime yet leaves `modelRuntime` out of its health
    assert value(samples, "gateway_model_runtime_degraded") in (0, None)
    assert value(samples, "gateway_sessions") is not None
    assert sum(s.value for s in samples if s.name == "agent_cron_jobs") >= 1  # heartbeat, dreaming, ...


def test_log_collector_counts_the_lines_a_gateway_action_writes(
    instance: LabInstance, link: AgentLink
) -> None:
    collector = AgentLogCollector.for_agent(link)
    before = value(collector.collect(ctx()), "agent_log_lines_total", level="info") or 0
    target = instance.target
    # a hot-reloadable value set to its default: the CLI and the gateway's reloader both log it
    result = proc.run(
        target.argv("config", "set", "agents.defaults.heartbeat.every", "30m"),
        timeout=120,
        env=target.process_env(),
    )
    assert result.returncode == 0, result.stderr_tail()
    log = Path(str(link.config()["logging"]["file"]))
    counted = before
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counted = value(collector.collect(ctx()), "agent_log_lines_total", level="info") or 0
        if counted >= before + 2 and "config hot reload applied" in log.read_text(errors="replace"):
            break
        time.sleep(0.5)
    assert counted >= before + 2
    assert "config hot reload applied" in log.read_text(errors="replace")
    samples = collector.collect(ctx())
    assert value(samples, "agent_log_read_errors_total") == 0
