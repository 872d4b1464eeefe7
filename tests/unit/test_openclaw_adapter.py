"""OpenClawAdapter against a fake `openclaw` replaying real recorded outputs and a loopback gateway.

The fake executable (tests/fixtures/openclaw/fake_openclaw.py) answers with what OpenClaw
2026.8.2 and 2026.9.6 really printed, gateway up and down; the HTTP probes come from a server on
127.0.0.1 serving the recorded /healthz, /readyz and /startupz bodies.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.agent.adapter import AgentAdapter, InstallKind
from clawkeeper.agent.openclaw.adapter import OpenClawAdapter
from clawkeeper.agent.openclaw.configfile import OpenClawConfigUnreadable
from clawkeeper.config import OpenClawSettings
from clawkeeper.errors import AgentNotFound, AgentProtocolError, ExitCode
from clawkeeper.outcomes import Verdict
from tests.support.httpserver import Routes, serve
from tests.support.openclaw_fake import FIXTURES, PORTS, VERSIONS, FakeInstall, _write_exe, gateway_routes


@pytest.fixture(params=VERSIONS)
def install(request: pytest.FixtureRequest, tmp_path: Path) -> FakeInstall:
    return FakeInstall(tmp_path, request.param).build()


@pytest.fixture
def gateway(install: FakeInstall) -> Iterator[str]:
    with serve(gateway_routes(install.version)) as url:
        yield url


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- discover -------------------------------------------------------------------------------------


def test_satisfies_the_agent_adapter_protocol(install: FakeInstall) -> None:
    assert isinstance(install.adapter(http_base=None), AgentAdapter)


def test_discover_reports_version_build_install_kind_paths_and_endpoint(install: FakeInstall) -> None:
    found = install.adapter(http_base=None).discover()
    build_info = json.loads((FIXTURES / install.version / "build-info.json").read_text())
    assert found.cli_version == install.version
    assert found.install_kind is InstallKind.NPM_GLOBAL
    assert found.package_root == install.prefix / "lib" / "node_modules" / "openclaw"
    assert found.build is not None
    assert found.build["commit"] == build_info["commit"]
    assert found.build["buildId"] == build_info["buildId"]
    assert found.state_dir == install.home / ".openclaw"
    assert found.config_path == install.config_path
    assert found.gateway.port == PORTS[install.version]
    assert (found.gateway.bind, found.gateway.auth_mode) == ("loopback", "token")
    assert found.gateway.url == f"http://127.0.0.1:{PORTS[install.version]}"
    assert found.node is not None and found.node.version == "24.19.0"
    assert found.notes == ()


def test_discover_on_a_live_target_finds_npm_global_and_the_systemd_user_unit(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    unit = install.home / ".config" / "systemd" / "user" / "openclaw-gateway.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=openclaw gateway --port 18789\n")
    _write_exe(
        install.root / "tools" / "systemctl", '#!/bin/sh\n[ "$1 $2" = "--user is-active" ] && echo active\n'
    )
    found = install.adapter(http_base=None, isolation="none").discover()
    assert found.install_kind is InstallKind.NPM_GLOBAL
    assert found.service is not None
    assert (found.service.manager, found.service.name, found.service.active) == (
        "systemd-user",
        "openclaw-gateway.service",
        True,
    )


def test_discover_notes_a_broken_json5_config_with_line_and_column(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.config_path.write_text((FIXTURES / "2026.9.6" / "openclaw.broken.json5").read_text())
    found = install.adapter(http_base=None).discover()
    assert found.cli_version == "2026.9.6"  # discovery carries on
    assert found.gateway.port is None
    [note] = [n for n in found.notes if "config" in n]
    assert f"{install.config_path}:5:" in note
    assert "not valid JSON5" in note


def test_discover_without_a_binary_is_agent_not_found(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.binary.unlink()
    with pytest.raises(AgentNotFound) as caught:
        install.adapter(http_base=None).discover()
    assert str(install.binary) in caught.value.message
    assert caught.value.exit_code == ExitCode.AGENT_NOT_FOUND


# --- health -----------------------------------------------------------------------------------------


def test_health_of_a_ready_gateway(install: FakeInstall, gateway: str) -> None:
    health = install.adapter(http_base=gateway).health()
    assert (health.live, health.ready, health.started) == (True, True, True)
    assert health.failing == ()
    assert health.running_version == install.version
    assert health.error is None
    assert [c.url for c in health.checks] == [
        f"{gateway}/healthz",
        f"{gateway}/readyz",
        f"{gateway}/startupz",
    ]
    assert all(c.ok and c.status == 200 and c.latency_ms is not None for c in health.checks)
    assert health.rpc is not None
    assert health.rpc["default_agent"] == "main"
    assert health.rpc["plugins_loaded"] == len(install.recorded("health")["plugins"]["loaded"])


def test_a_down_gateway_is_reported_not_raised(install: FakeInstall, closed_port_url: str) -> None:
    install.set_phase("down")
    health = install.adapter(http_base=closed_port_url).health()
    assert (health.live, health.ready, health.running_version, health.rpc) == (False, False, None, None)
    assert all(c.status is None and not c.ok and c.error for c in health.checks)
    assert health.error is not None
    assert "Gateway not reachable" in health.error
    assert f"{closed_port_url}/healthz" in health.error


def test_not_ready_lists_what_is_failing(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    routes = gateway_routes("2026.9.6")
    routes["/readyz"] = (503, {"ready": False, "failing": ["agent-database:main", "plugin-reload"]})
    routes["/startupz"] = (
        503,
        json.loads((FIXTURES / "2026.9.6" / "http-startupz.pending.json").read_text()),
    )
    install.set_phase("down")
    with serve(routes) as url:
        health = install.adapter(http_base=url).health()
    assert health.live and not health.ready and health.started is False
    assert health.failing == ("agent-database:main", "plugin-reload")
    # the RPC is not up yet, but the pending /startupz already says which version is starting
    assert health.running_version == "2026.9.6"


def test_health_derives_the_probe_url_from_the_config_port(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    with serve(gateway_routes("2026.9.6")) as url:
        port = int(url.rsplit(":", 1)[1])
        config = json.loads(install.config_path.read_text())
        config["gateway"]["port"] = port
        install.config_path.write_text(json.dumps(config))
        health = install.adapter(http_base=None).health()
    assert health.ready
    assert health.checks[0].url == f"http://127.0.0.1:{port}/healthz"


def test_health_needs_a_readable_config_when_the_target_has_no_url(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.config_path.write_text((FIXTURES / "2026.9.6" / "openclaw.broken.json5").read_text())
    with pytest.raises(OpenClawConfigUnreadable) as caught:
        install.adapter(http_base=None).health()
    assert f"{install.config_path}:5:" in caught.value.message
    assert caught.value.exit_code == ExitCode.AGENT_PROTOCOL


def test_an_html_answer_is_not_health(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    routes = Routes()
    for path in ("/healthz", "/readyz", "/startupz"):
        routes[path] = (200, "<!doctype html><title>Control UI</title>")
    install.set_phase("down")
    with serve(routes) as url:
        health = install.adapter(http_base=url).health()
    assert not health.live and not health.ready
    assert all(c.status == 200 and not c.ok for c in health.checks)


def test_changed_readyz_shape_names_the_url_and_field(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    routes = gateway_routes("2026.9.6")
    routes["/readyz"] = (200, {"status": "ready"})
    with serve(routes) as url, pytest.raises(AgentProtocolError) as caught:
        install.adapter(http_base=url).health()
    assert f"GET {url}/readyz" in caught.value.message
    assert "'ready'" in caught.value.message


def test_cli_calls_of_one_question_run_concurrently(tmp_path: Path, closed_port_url: str) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.set_phase(
        "up",
        **{name: {"sleep": 1.0} for name in ("gateway-call-status", "tasks-running", "cron-list")},
    )
    started = time.monotonic()
    state = install.adapter(http_base=closed_port_url).busy()
    elapsed = time.monotonic() - started
    assert state.busy is False
    assert elapsed < 2.5, f"three 1 s calls took {elapsed:.1f}s: they ran one after another"


# --- busy -------------------------------------------------------------------------------------------


def test_idle_gateway(install: FakeInstall) -> None:
    state = install.adapter(http_base=None).busy()
    assert state.busy is False
    assert (state.running_tasks, state.running_cron_jobs) == (0, 0)
    assert state.error is None
    if install.version == "2026.9.6":
        # 2026.9 reports the counters a restart waits for
        assert state.active == {
            "rootRequests": 0,
            "cronRuns": 0,
            "sessionMutations": 0,
            "terminalPersistence": 0,
            "lifecycleWrites": 0,
        }
    else:
        # 2026.8 has no shutdownBudget: the task registry summary stands in
        assert state.active == {"tasks.active": 0}


def test_active_work_makes_the_gateway_busy(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    status = install.recorded("gateway-call-status")
    status["shutdownBudget"]["activeWork"]["rootRequests"] = 2
    status["shutdownBudget"]["writeCustody"] = [{"phase": "backup", "count": 1}]
    install.set_phase("up", **{"gateway-call-status": {"stdout": json.dumps(status)}})
    state = install.adapter(http_base=None).busy()
    assert state.busy is True
    assert state.active["rootRequests"] == 2
    assert state.active["writeCustody:backup"] == 1


def _status_with(install: FakeInstall, **counters: int) -> str:
    status = install.recorded("gateway-call-status")
    status["shutdownBudget"]["activeWork"].update(counters)
    return json.dumps(status)


def _status_calls(install: FakeInstall) -> int:
    return sum(1 for call in install.calls() if call["args"][:3] == ["gateway", "call", "status"])


def test_a_passing_gateway_request_is_re_checked_and_does_not_make_it_busy(tmp_path: Path) -> None:
    # rootRequests counts any request in flight, clawkeeper's own concurrent calls included
    install = FakeInstall(tmp_path, "2026.9.6").build()
    answers = [_status_with(install, rootRequests=1), _status_with(install, rootRequests=0)]
    install.set_phase("up", **{"gateway-call-status": {"stdouts": answers}})
    state = install.adapter(http_base=None).busy()
    assert state.busy is False
    assert state.samples == 2 and state.active["rootRequests"] == 0
    assert _status_calls(install) == 2


def test_a_gateway_request_that_stays_makes_it_busy(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.set_phase("up", **{"gateway-call-status": {"stdouts": [_status_with(install, rootRequests=1)]}})
    state = install.adapter(http_base=None).busy()
    assert state.busy is True
    assert state.samples == 3 and state.active["rootRequests"] == 1
    assert _status_calls(install) == 3


@pytest.mark.parametrize("counter", ["sessionMutations", "cronRuns", "lifecycleWrites"])
def test_lasting_work_makes_it_busy_at_once(tmp_path: Path, counter: str) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    answers = [_status_with(install, rootRequests=1, **{counter: 1}), _status_with(install)]
    install.set_phase("up", **{"gateway-call-status": {"stdouts": answers}})
    state = install.adapter(http_base=None).busy()
    assert state.busy is True and state.samples == 1
    assert _status_calls(install) == 1


def test_a_running_cron_job_or_task_makes_the_gateway_busy(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.8.2").build()
    cron = install.recorded("cron-list")
    cron["jobs"][0]["status"] = "running"
    cron["jobs"][0]["state"]["runningAtMs"] = 1795320620547
    tasks = {"count": 1, "runtime": None, "status": "running", "tasks": [{"id": "t1", "status": "running"}]}
    install.set_phase(
        "up", **{"cron-list": {"stdout": json.dumps(cron)}, "tasks-running": {"stdout": json.dumps(tasks)}}
    )
    state = install.adapter(http_base=None).busy()
    assert state.busy is True
    assert (state.running_tasks, state.running_cron_jobs) == (1, 1)


def test_busy_is_unknown_when_the_gateway_is_down(install: FakeInstall) -> None:
    install.set_phase("down")
    state = install.adapter(http_base=None).busy()
    assert state.busy is None
    assert state.running_tasks == 0  # the task registry is readable without the gateway
    assert state.error is not None and "Gateway not reachable" in state.error


def test_changed_status_shape_names_the_command_and_field(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    status = install.recorded("gateway-call-status")
    del status["shutdownBudget"]["activeWork"]
    install.set_phase("up", **{"gateway-call-status": {"stdout": json.dumps(status)}})
    with pytest.raises(AgentProtocolError) as caught:
        install.adapter(http_base=None).busy()
    message = caught.value.message
    assert "openclaw gateway call status --json" in message
    assert "'shutdownBudget.activeWork'" in message
    assert caught.value.exit_code == ExitCode.AGENT_PROTOCOL


def test_a_status_answer_with_neither_counters_nor_tasks_is_a_protocol_error(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.8.2").build()
    status = install.recorded("gateway-call-status")
    del status["tasks"]
    install.set_phase("up", **{"gateway-call-status": {"stdout": json.dumps(status)}})
    with pytest.raises(AgentProtocolError, match=r"shutdownBudget\.activeWork"):
        install.adapter(http_base=None).busy()


def test_output_that_is_not_json_is_a_protocol_error(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.set_phase("up", **{"tasks-running": {"stdout": "Tasks: none running\n"}})
    with pytest.raises(AgentProtocolError, match="openclaw tasks list"):
        install.adapter(http_base=None).busy()


# --- gates ------------------------------------------------------------------------------------------


def test_gates_pass_with_doctor_warnings_and_a_valid_config(install: FakeInstall) -> None:
    doctor, config = install.adapter(http_base=None).gates()
    recorded = install.recorded("doctor-lint")
    assert doctor.name == "openclaw doctor --lint"
    # doctor exits 1 for these warnings; warnings alone must not fail the gate
    assert doctor.outcome.verdict is Verdict.PASSED
    assert [f.check_id for f in doctor.findings] == [f["checkId"] for f in recorded["findings"]]
    assert {f.severity for f in doctor.findings} == {"warning"}
    assert config.outcome.verdict is Verdict.PASSED
    assert config.findings == ()


def test_doctor_error_findings_fail_the_gate(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    lint = install.recorded("doctor-lint")
    lint["findings"].append(
        {
            "checkId": "core/doctor/auth-profiles",
            "severity": "error",
            "message": "profile openai:default is broken",
        }
    )
    install.set_phase("up", **{"doctor-lint": {"stdout": json.dumps(lint), "returncode": 1}})
    doctor, _config = install.adapter(http_base=None).gates()
    assert doctor.outcome.verdict is Verdict.FAILED
    assert "core/doctor/auth-profiles" in doctor.outcome.reason


def test_a_broken_json5_config_fails_the_config_gate_with_line_and_column(install: FakeInstall) -> None:
    install.config_path.write_text((FIXTURES / install.version / "openclaw.broken.json5").read_text())
    install.set_phase("broken")
    doctor, config = install.adapter(http_base=None).gates()
    assert doctor.outcome.verdict is Verdict.FAILED
    assert config.outcome.verdict is Verdict.FAILED
    assert f"{install.config_path}:5:" in config.outcome.reason
    syntax = [f for f in config.findings if f.check_id == "clawkeeper/config-syntax"]
    assert len(syntax) == 1
    assert syntax[0].path is not None and syntax[0].path.startswith(f"{install.config_path}:5:")
    # OpenClaw's own verdict is kept next to ours
    assert any("JSON5 parse failed" in f.message for f in config.findings)


def test_an_unknown_config_key_fails_the_config_gate(install: FakeInstall) -> None:
    install.set_phase("invalid")
    _doctor, config = install.adapter(http_base=None).gates()
    assert config.outcome.verdict is Verdict.FAILED
    assert [(f.path, f.message) for f in config.findings] == [("update", 'Unrecognized key: "notARealKey"')]


def test_a_doctor_that_cannot_run_is_inconclusive(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    failure = {"ok": False, "error": {"type": "cli_error", "message": "database is locked"}}
    install.set_phase("up", **{"doctor-lint": {"stdout": json.dumps(failure), "returncode": 2}})
    doctor, _config = install.adapter(http_base=None).gates()
    assert doctor.outcome.verdict is Verdict.INCONCLUSIVE
    assert "database is locked" in doctor.outcome.reason


def test_a_gate_that_times_out_is_inconclusive_not_an_exception(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    install.set_phase("up", **{"doctor-lint": {"sleep": 5.0}})
    doctor, config = install.adapter(http_base=None, timeout=1.5).gates()
    assert doctor.outcome.verdict is Verdict.INCONCLUSIVE
    assert "did not finish within 1.5s" in doctor.outcome.reason
    assert config.outcome.verdict is Verdict.PASSED


def test_changed_doctor_finding_shape_names_the_field(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    lint = install.recorded("doctor-lint")
    del lint["findings"][0]["checkId"]
    install.set_phase("up", **{"doctor-lint": {"stdout": json.dumps(lint), "returncode": 1}})
    with pytest.raises(AgentProtocolError) as caught:
        install.adapter(http_base=None).gates()
    assert "openclaw doctor --lint --json" in caught.value.message
    assert "'findings[0].checkId'" in caught.value.message


def test_commands_run_with_the_target_environment(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    target = install.target(http_base=None, extra_env={"OPENCLAW_PROFILE": "work"})
    OpenClawAdapter(target, timeout=30, base_env=install.env()).busy()
    calls = install.calls()
    assert len(calls) == 3
    assert all(call["env"]["OPENCLAW_PROFILE"] == "work" for call in calls)
    assert all(call["env"]["HOME"] == str(install.home) for call in calls)
    assert {tuple(call["args"][:3]) for call in calls} == {
        ("gateway", "call", "status"),
        ("tasks", "list", "--status"),
        ("cron", "list", "--json"),
    }


def test_the_live_adapter_reports_where_it_looked(tmp_path: Path) -> None:
    install = FakeInstall(tmp_path, "2026.9.6").build()
    env = {**install.env(), "PATH": f"{install.prefix / 'bin'}{os.pathsep}{install.env()['PATH']}"}
    env["FAKE_OPENCLAW_SCENARIO"] = str(install.scenario_path)
    adapter = OpenClawAdapter.live(OpenClawSettings(), env)
    found = adapter.discover()
    assert (found.target, found.binary, found.cli_version) == ("live", install.binary, "2026.9.6")
    assert found.searched == (f"PATH: {install.binary} (found)",)
    assert found.install_kind is InstallKind.NPM_GLOBAL
