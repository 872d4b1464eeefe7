"""GenericAdapter: an agent known only by a version command, URLs, a restart command and state paths."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from clawkeeper.agent.adapter import AgentAdapter, InstallKind
from clawkeeper.agent.generic import GenericAdapter
from clawkeeper.config import GenericAgentSettings
from clawkeeper.errors import AgentNotFound, CommandFailed, UsageError
from clawkeeper.outcomes import Verdict
from tests.support.httpserver import Routes, serve


def script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_satisfies_the_protocol() -> None:
    assert isinstance(GenericAdapter(GenericAgentSettings()), AgentAdapter)


def test_discover_runs_the_version_command_and_checks_state_paths(tmp_path: Path) -> None:
    version = script(tmp_path / "agent-version", "echo 'myagent 3.1.4'")
    (tmp_path / "data").mkdir()
    settings = GenericAgentSettings(
        name="myagent",
        version_command=[str(version), "--version"],
        health_url="http://127.0.0.1:9/health",
        state_paths=[tmp_path / "data", tmp_path / "gone"],
    )
    found = GenericAdapter(settings).discover()
    assert (found.agent, found.target, found.install_kind) == ("myagent", "generic", InstallKind.GENERIC)
    assert found.cli_version == "myagent 3.1.4"
    assert found.binary == version
    assert found.state_dir == tmp_path / "data"
    assert found.gateway.url == "http://127.0.0.1:9/health"
    assert found.notes == (f"state path {tmp_path / 'gone'} does not exist",)


def test_discover_without_the_program_is_agent_not_found() -> None:
    settings = GenericAgentSettings(name="ghost", version_command=["no-such-agent-binary-xyz", "--version"])
    with pytest.raises(AgentNotFound, match="no-such-agent-binary-xyz"):
        GenericAdapter(settings).discover()


def test_a_failing_version_command_is_a_note(tmp_path: Path) -> None:
    broken = script(tmp_path / "v", "echo 'cannot read config' >&2; exit 3")
    found = GenericAdapter(GenericAgentSettings(version_command=[str(broken)])).discover()
    assert found.cli_version is None
    assert found.notes == ("version command exited 3: cannot read config",)


def test_health_and_readiness_from_urls() -> None:
    routes = Routes()
    routes["/health"] = (200, {"status": "ok"})
    routes["/ready"] = (503, {"ready": False})
    with serve(routes) as base:
        adapter = GenericAdapter(GenericAgentSettings(health_url=f"{base}/health", ready_url=f"{base}/ready"))
        health = adapter.health()
    assert (health.live, health.ready) == (True, False)
    assert health.checks[0].body == {"status": "ok"}
    assert health.error == f"{base}/ready: HTTP 503"


def test_a_down_agent_is_reported_not_raised() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"
    health = GenericAdapter(GenericAgentSettings(health_url=url)).health()
    assert (health.live, health.ready) == (False, False)
    assert health.error is not None and health.error.startswith(url)


def test_without_urls_health_is_unknown_and_busy_is_unknown() -> None:
    adapter = GenericAdapter(GenericAgentSettings())
    assert adapter.health().error == "no health_url configured for this agent"
    state = adapter.busy()
    assert state.busy is None and state.error


def test_state_path_gate(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    ok = GenericAdapter(GenericAgentSettings(state_paths=[tmp_path / "db"])).gates()
    assert [g.outcome.verdict for g in ok] == [Verdict.PASSED]
    [gate] = GenericAdapter(GenericAgentSettings(state_paths=[tmp_path / "db", tmp_path / "lost"])).gates()
    assert gate.outcome.verdict is Verdict.FAILED
    assert [f.path for f in gate.findings] == [str(tmp_path / "lost")]
    assert GenericAdapter(GenericAgentSettings()).gates() == []


def test_restart_runs_the_configured_command(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    restart = script(tmp_path / "restart", f"touch {marker}")
    GenericAdapter(GenericAgentSettings(restart_command=[str(restart)])).restart()
    assert marker.exists()
    failing = script(tmp_path / "fail", "exit 1")
    with pytest.raises(CommandFailed):
        GenericAdapter(GenericAgentSettings(restart_command=[str(failing)])).restart()
    with pytest.raises(UsageError, match="restart_command"):
        GenericAdapter(GenericAgentSettings()).restart()
