"""OpenClawAdapter against a real OpenClaw started by the clawkeeper lab (2026.8.2 and 2026.9.6).

`lab_instance` (tests/lab/conftest.py) yields a running, ready lab gateway with `.target` (an
OpenClawTarget whose CLI calls run inside the lab's namespaces and whose `http_base` reaches the
gateway from here) and `.version`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.lab.conftest import LabPool

from clawkeeper.agent.adapter import AgentAdapter, InstallKind
from clawkeeper.agent.openclaw.adapter import OpenClawAdapter
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.openclaw.versions import parse_version
from clawkeeper.effects import proc
from clawkeeper.outcomes import Verdict

pytestmark = pytest.mark.lab

# generous: a 2-core box shared with other work makes each Node start-up slow
TIMEOUT_S = 180.0


def adapter_for(lab_instance: Any) -> OpenClawAdapter:
    adapter = OpenClawAdapter(lab_instance.target, timeout=TIMEOUT_S)
    assert isinstance(adapter, AgentAdapter)
    return adapter


def test_discover_reports_the_version_and_the_npm_global_install(lab_instance: Any) -> None:
    found = adapter_for(lab_instance).discover()
    assert found.cli_version == lab_instance.version
    assert found.install_kind is InstallKind.NPM_GLOBAL, found.notes
    assert found.build is not None
    assert found.build["version"] == lab_instance.version
    assert found.build["buildId"].startswith(lab_instance.version)
    assert found.package_root is not None and (found.package_root / "package.json").is_file()
    assert found.config_path is not None and found.config_path.is_file()
    assert found.gateway.port is not None and found.gateway.auth_mode is not None
    assert found.node is not None and found.node.version is not None
    assert int(found.node.version.split(".")[0]) >= 24
    assert not [note for note in found.notes if "unreadable" in note or "failed" in note], found.notes


def test_health_is_ready_with_nothing_failing(lab_instance: Any) -> None:
    health = adapter_for(lab_instance).health()
    assert health.error is None, health.error
    assert (health.live, health.ready, health.started) == (True, True, True)
    assert health.failing == ()
    assert health.running_version == lab_instance.version
    assert all(check.ok and check.latency_ms is not None for check in health.checks)
    assert health.rpc is not None and health.rpc["ok"] is True


def test_an_idle_gateway_is_not_busy(lab_instance: Any) -> None:
    state = adapter_for(lab_instance).busy()
    assert state.error is None, state.error
    assert state.busy is False
    assert (state.running_tasks, state.running_cron_jobs) == (0, 0)
    assert state.active and all(count == 0 for count in state.active.values())
    if parse_version(lab_instance.version) >= parse_version("2026.9.1"):
        assert "rootRequests" in state.active  # shutdownBudget.activeWork arrived in 2026.9


def _root_requests(target: OpenClawTarget) -> int:
    argv = target.argv("gateway", "call", "status", "--json")
    status = proc.run_json(argv, timeout=TIMEOUT_S, env=target.process_env())[1]
    return int(status["shutdownBudget"]["activeWork"]["rootRequests"])


def test_a_request_that_stays_in_flight_makes_the_gateway_busy_until_it_ends(
    lab_pool: LabPool, tmp_path: Path
) -> None:
    """A real root request (`agent.wait` holds one for its timeout) is re-checked, found still
    there, and counts; once it has ended the same gateway is idle again."""
    instance = lab_pool.get("2026.9.6")
    adapter = adapter_for(instance)
    hold = json.dumps({"runId": "clawkeeper-busy-probe", "timeoutMs": 15000})
    wait_args = ("gateway", "call", "agent.wait", "--params", hold, "--timeout", "30000", "--json")
    waiter = proc.spawn(
        instance.target.argv(*wait_args),
        log_path=tmp_path / "agent-wait.log",
        env=instance.target.process_env(),
    )
    try:
        deadline = time.monotonic() + 10
        while _root_requests(instance.target) == 0:
            assert time.monotonic() < deadline, "the gateway never counted the agent.wait request"
        state = adapter.busy()
        assert state.error is None, state.error
        assert state.busy is True
        assert state.samples == 3 and state.active["rootRequests"] >= 1
        assert proc.wait(waiter, timeout=60) == 0
    finally:
        proc.stop(waiter)
    state = adapter.busy()
    assert state.busy is False and state.samples == 1


def test_gates_report_doctor_findings_and_a_valid_config(lab_instance: Any) -> None:
    doctor, config = adapter_for(lab_instance).gates()
    assert doctor.outcome.verdict is Verdict.PASSED, doctor.outcome.reason
    # a loopback-only gateway with a plaintext token always draws doctor warnings
    assert doctor.findings
    assert all(f.check_id and f.severity in ("info", "warning") for f in doctor.findings)
    assert config.outcome.verdict is Verdict.PASSED, config.outcome.reason
    assert not [f for f in config.findings if f.severity == "error"]
