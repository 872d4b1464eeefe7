"""What probes can reach: the target's CLI and gateway, the probe agent, baselines.

One `ProbeEnv` is built per verification and handed to every probe. Requirements a probe kind
declares are checked against it before measuring, so a kind never has to guess: no target means
no CLI probes, no agent access means model-dependent probes are Inconclusive with `agent_unavailable`
as the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.effects import http, proc
from clawkeeper.probes.baseline import Baseline, BaselineSource, NoBaselines
from clawkeeper.probes.model_log import ModelLog


@dataclass(frozen=True)
class AgentAccess:
    """How model-dependent probes reach the probe agent."""

    agent_id: str
    model_ref: str  # "clawkeeper-probe/probe-1", or the user's real model when they opted in
    model_log: ModelLog | None  # the probe model's request log; None on a real model

    @property
    def scripted(self) -> bool:
        return self.model_log is not None


@dataclass(frozen=True)
class GatewayState:
    """A cheap look at /readyz: `status` None means nothing answered."""

    status: int | None
    ready: bool
    uptime_ms: float | None = None
    failing: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class ProbeEnv:
    target: OpenClawTarget | None = None
    http_base: str | None = None
    agent: AgentAccess | None = None
    agent_unavailable: str = "the probe agent is not set up for this run"
    baselines: BaselineSource = field(default_factory=NoBaselines)
    # Restarts the gateway and returns once the restart was requested; None: use the gateway's RPC.
    restart_gateway: Callable[[], None] | None = None
    ready_wait_s: float = 60.0  # how long to wait for a gateway that is (re)starting
    refused_grace_s: float = 5.0  # a restarting gateway refuses connections for a moment
    sleep: Callable[[float], None] = time.sleep
    current_probe: str = ""  # set by the runner while a probe measures

    def baseline(self) -> Baseline | None:
        """The current probe's baseline, if one was recorded."""
        return self.baselines.get(self.current_probe) if self.current_probe else None

    # the agent's CLI ---------------------------------------------------------------------------
    def openclaw(self, *args: str, timeout: float, input_text: str | None = None) -> proc.CommandResult:
        target = self._require_target()
        return proc.run(target.argv(*args), timeout=timeout, env=target.process_env(), input_text=input_text)

    def openclaw_json(
        self, *args: str, timeout: float, what: str | None = None
    ) -> tuple[proc.CommandResult, Any]:
        """Run `openclaw <args>` and parse its JSON; a JSON error envelope on a non-zero exit is
        returned, not raised (the caller decides what the exit code means)."""
        target = self._require_target()
        result = proc.run(target.argv(*args), timeout=timeout, env=target.process_env())
        if not result.stdout.strip():
            return result, None
        label = what or "openclaw " + " ".join(args[:2])
        return result, proc.parse_json_output(result.stdout, what=label)

    def _require_target(self) -> OpenClawTarget:
        if self.target is None:
            raise RuntimeError("this probe needs an OpenClaw target; the runner checks requirements first")
        return self.target

    # the gateway -------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        if self.http_base is None:
            raise RuntimeError("no gateway URL; the runner checks requirements first")
        return self.http_base.rstrip("/") + "/" + path.lstrip("/")

    def gateway_state(self, timeout: float = 5.0) -> GatewayState:
        answer = http.get(self.url("/readyz"), timeout=timeout)
        if isinstance(answer, http.HttpFailure):
            return GatewayState(status=None, ready=False, error=answer.reason)
        body = answer.json_or_none()
        body = body if isinstance(body, dict) else {}
        failing = body.get("failing")
        uptime = body.get("uptimeMs")
        return GatewayState(
            status=answer.status,
            ready=answer.status == 200,
            uptime_ms=float(uptime) if isinstance(uptime, int | float) else None,
            failing=tuple(str(f) for f in failing) if isinstance(failing, list) else (),
        )

    def wait_ready(self, *, limit_s: float | None = None, restarting: bool = False) -> GatewayState:
        """Wait while the gateway is starting or restarting; return its last state.

        A 503 means it is on its way (starting, draining, migrating): wait up to `limit_s`.
        A refused connection is waited out only for `refused_grace_s` — a stopped gateway should
        fail its probes promptly, not after a minute — unless we know it is `restarting`, when
        its HTTP server is down for several seconds on the way back.
        """
        limit = self.ready_wait_s if limit_s is None else limit_s
        started = time.monotonic()
        waited = 0.0  # by the clock we were given, so a fake clock in tests ends the wait too
        state = self.gateway_state()
        while not state.ready:
            budget = limit if state.status is not None or restarting else min(limit, self.refused_grace_s)
            if max(waited, time.monotonic() - started) >= budget:
                break
            self.sleep(1.0)
            waited += 1.0
            state = self.gateway_state()
        return state
