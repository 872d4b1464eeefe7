"""Status composition over a fake adapter: what a user sees when things are fine and when not."""

from __future__ import annotations

from pathlib import Path

from clawkeeper.agent.adapter import (
    AgentAdapter,
    BusyState,
    Discovery,
    EndpointCheck,
    Finding,
    GateResult,
    GatewayEndpoint,
    Health,
    InstallKind,
    NodeRuntime,
)
from clawkeeper.errors import AgentUnavailable, ExitCode
from clawkeeper.outcomes import Outcome
from clawkeeper.runbook.releases import ChannelRelease, ReleaseReport
from clawkeeper.status import collect_status


class FakeAdapter:
    def __init__(self, *, ready: bool = True, busy_error: bool = False, gates_error: bool = False) -> None:
        self.ready = ready
        self.busy_error = busy_error
        self.gates_error = gates_error

    @property
    def name(self) -> str:
        return "fake"

    def discover(self) -> Discovery:
        return Discovery(
            agent="openclaw",
            target="lab:default",
            binary=Path("/lab/bin/openclaw"),
            install_kind=InstallKind.NPM_GLOBAL,
            cli_version="2026.8.2",
            gateway=GatewayEndpoint(
                port=18996, bind="loopback", auth_mode="token", url="http://127.0.0.1:18996"
            ),
            node=NodeRuntime(Path("/lab/node"), "24.19.0"),
        )

    def health(self) -> Health:
        check = EndpointCheck(
            url="http://127.0.0.1:18996/readyz",
            status=200 if self.ready else 503,
            ok=self.ready,
            latency_ms=3.0,
        )
        return Health(
            live=True,
            ready=self.ready,
            failing=() if self.ready else ("agent-database:main",),
            running_version="2026.8.2",
            checks=(check,),
        )

    def busy(self) -> BusyState:
        if self.busy_error:
            raise AgentUnavailable("gateway call status failed")
        return BusyState(busy=False, active={"rootRequests": 0}, source="status rpc")

    def gates(self) -> list[GateResult]:
        if self.gates_error:
            raise AgentUnavailable("doctor timed out")
        findings = (
            Finding("core/doctor/gateway-config", "warning", "loopback only"),
            Finding("core/doctor/token", "warning", "plaintext token"),
        )
        return [
            GateResult("doctor lint", Outcome.passed(), findings),
            GateResult("config validate", Outcome.passed()),
        ]


def releases(node: str | None) -> ReleaseReport:
    return ReleaseReport(
        channels=(ChannelRelease("stable", "2026.9.6", "dist-tag:latest"),),
        node_version=node,
        newest_for_node="2026.9.6",
    )


def test_fake_adapter_satisfies_the_protocol() -> None:
    assert isinstance(FakeAdapter(), AgentAdapter)


def test_ready_agent_status() -> None:
    report = collect_status(FakeAdapter(), releases=releases, recent_runs=list)
    doc = report.to_json()
    assert report.exit_code == ExitCode.OK
    assert doc["cli_version"] == "2026.8.2"
    assert doc["running_version"] == "2026.8.2"
    assert doc["ready"] is True and doc["live"] is True
    assert doc["busy"] is False
    assert doc["findings"] == {"warning": 2}
    assert doc["install_kind"] == "npm-global"
    assert doc["releases"]["newest_for_node"] == "2026.9.6"
    assert doc["releases"]["node_version"] == "24.19.0"  # the agent's Node, from discovery


def test_not_ready_agent_exits_5_and_says_why() -> None:
    report = collect_status(FakeAdapter(ready=False), releases=None, recent_runs=list)
    assert report.exit_code == ExitCode.AGENT_UNAVAILABLE
    assert report.to_json()["health"]["failing"] == ["agent-database:main"]
    assert report.releases is None


def test_one_failing_part_does_not_hide_the_others() -> None:
    report = collect_status(
        FakeAdapter(busy_error=True, gates_error=True), releases=releases, recent_runs=list
    )
    assert report.busy.busy is None
    assert report.busy.error == "gateway call status failed"
    assert report.gate_error == "doctor timed out"
    assert report.health.ready is True
