"""The agent on one screen: gather discovery, health, busy state, gates, releases and history.

Pure composition over the adapter, the release source and the ledger; the CLI renders the result.
Independent slow calls (each OpenClaw CLI call starts Node) run concurrently.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clawkeeper.agent.adapter import AgentAdapter, BusyState, Discovery, GateResult, Health
from clawkeeper.errors import ClawkeeperError, ExitCode
from clawkeeper.ledger import RunRecord
from clawkeeper.runbook.releases import ReleaseReport

T = TypeVar("T")


@dataclass(frozen=True)
class StatusReport:
    target: str
    discovery: Discovery
    health: Health
    busy: BusyState
    gates: tuple[GateResult, ...] = ()
    gate_error: str | None = None
    releases: ReleaseReport | None = None
    recent_runs: tuple[RunRecord, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def findings_count(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for gate in self.gates:
            for finding in gate.findings:
                counts[finding.severity] = counts.get(finding.severity, 0) + 1
        return counts

    @property
    def exit_code(self) -> ExitCode:
        """0 when the gateway is live and ready, AGENT_UNAVAILABLE otherwise."""
        return ExitCode.OK if self.health.live and self.health.ready else ExitCode.AGENT_UNAVAILABLE

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "agent": self.discovery.agent,
            "cli_version": self.discovery.cli_version,
            "running_version": self.health.running_version,
            "install_kind": self.discovery.install_kind.value,
            "live": self.health.live,
            "ready": self.health.ready,
            "busy": self.busy.busy,
            "findings": self.findings_count,
            "discovery": self.discovery.to_json(),
            "health": self.health.to_json(),
            "busy_state": self.busy.to_json(),
            "gates": [g.to_json() for g in self.gates],
            "gate_error": self.gate_error,
            "releases": self.releases.to_json() if self.releases else None,
            "recent_runs": [{k: v for k, v in r.to_json().items() if k != "steps"} for r in self.recent_runs],
            "notes": list(self.notes),
            "exit_code": int(self.exit_code),
        }


def _result(future: Future[T], fallback: Callable[[str], T]) -> T:
    try:
        return future.result()
    except ClawkeeperError as exc:
        return fallback(exc.one_line())


def collect_status(
    adapter: AgentAdapter,
    *,
    releases: Callable[[str | None], ReleaseReport] | None,
    recent_runs: Callable[[], list[RunRecord]],
    with_gates: bool = True,
) -> StatusReport:
    """Discover first (raises AgentNotFound if nothing is there), then everything else in parallel."""
    discovery = adapter.discover()
    node_version = discovery.node.version if discovery.node else None
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="status") as pool:
        health_f = pool.submit(adapter.health)
        busy_f = pool.submit(adapter.busy)
        gates_f = pool.submit(adapter.gates) if with_gates else None
        releases_f = pool.submit(releases, node_version) if releases else None
        health = _result(health_f, lambda e: Health(live=False, ready=False, error=e))
        busy = _result(busy_f, lambda e: BusyState(busy=None, error=e))
        gates: list[GateResult] = []
        gate_error: str | None = None
        if gates_f is not None:
            try:
                gates = gates_f.result()
            except ClawkeeperError as exc:
                gate_error = exc.one_line()
        release_report: ReleaseReport | None = None
        if releases_f is not None:
            release_report = _result(releases_f, lambda e: ReleaseReport(error=e))
    return StatusReport(
        target=discovery.target,
        discovery=discovery,
        health=health,
        busy=busy,
        gates=tuple(gates),
        gate_error=gate_error,
        releases=release_report,
        recent_runs=tuple(recent_runs()),
    )
