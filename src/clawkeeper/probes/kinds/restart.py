"""`agent.restart-survival`: state written before a gateway restart is still there after it.

Turn 1 stores a memory anchor in session S; the gateway is restarted (the caller's restart hook,
else the gateway's own `gateway.restart.request` RPC, which restarts in-process); once /readyz
reports a fresh uptime, turn 2 in the same session S searches memory for the anchor. With the
probe model the log also shows whether turn 1 is still in S's transcript.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import Field

from clawkeeper.probes import script
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.agent_turn import MODEL_PROBE
from clawkeeper.probes.kinds.agent_turns import require_agent, session_key
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    excerpt,
)
from clawkeeper.probes.kinds.memory import MemoryParams, anchor_found, recall_until_found, store_anchor
from clawkeeper.probes.kinds.rpc import error_message, gateway_call

RESTART_FILE = "memory/clawkeeper-restart-probe.md"


class RestartParams(KindParams):
    restart_wait_s: float = Field(default=120.0, gt=0, le=900, description="how long the gateway may take")


@dataclass(frozen=True)
class RestartSurvivalProbe:
    params: RestartParams
    requires: frozenset[Requirement] = MODEL_PROBE | {Requirement.GATEWAY}

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        agent = require_agent(env)
        memory = MemoryParams()
        anchor = f"CKRST-{script.new_nonce()}"
        session = session_key("restart", anchor)
        turn_budget = max((timeout_s - self.params.restart_wait_s) / 2, 30.0)
        stored = store_anchor(env, memory, anchor, session, turn_budget, path=RESTART_FILE)
        if not stored.completed:
            return self._result(
                False, anchor, f"storing state before the restart failed: {stored.failure_reason()}"
            )
        before = env.gateway_state()
        restarted_in, down = self._restart(env, before.uptime_ms)
        if down is not None:
            return self._result(False, anchor, down, restarted_in)
        recalled = recall_until_found(env, memory, anchor, lambda _n: session, turn_budget, agent.scripted)
        history_kept = (not agent.scripted) or any(
            stored.nonce in (r.get("earlier_nonces") or []) for r in recalled.requests
        )
        problem = None
        if not recalled.completed:
            problem = f"the first turn after the restart failed: {recalled.failure_reason()}"
        elif not anchor_found(recalled, anchor, agent.scripted):
            results = recalled.tool_results()
            problem = "after the restart, memory no longer finds the anchor stored before it: " + (
                excerpt(results[-1], 140) if results else excerpt(recalled.reply, 140)
            )
        elif not history_kept:
            problem = "after the restart, the session lost its earlier turns (transcript not persisted)"
        return self._result(problem is None, anchor, problem, restarted_in, history_kept)

    def _restart(self, env: ProbeEnv, uptime_before: float | None) -> tuple[float, str | None]:
        """Restart and wait for readiness: (seconds taken, the problem if it never came back)."""
        started = time.monotonic()
        if env.restart_gateway is not None:
            env.restart_gateway()
        else:
            code, document, stderr = gateway_call(
                env, "gateway.restart.request", {"reason": "clawkeeper restart-survival probe"}, 30.0
            )
            if code != 0 or error_message(document):
                raise MeasurementError(
                    f"could not ask the gateway to restart: {excerpt(error_message(document) or stderr, 160)}"
                )
        deadline = started + self.params.restart_wait_s
        # A restart is seen as a failed probe or an uptime that went backwards, then readiness.
        while time.monotonic() < deadline:
            state = env.gateway_state()
            if not state.ready or (
                uptime_before is not None and state.uptime_ms is not None and state.uptime_ms < uptime_before
            ):
                break
            env.sleep(0.5)
        state = env.wait_ready(limit_s=max(deadline - time.monotonic(), 1.0), restarting=True)
        taken = round(time.monotonic() - started, 1)
        if not state.ready:
            last = state.error or f"HTTP {state.status}"
            return taken, f"the gateway was not ready again {taken:g}s after a restart (last answer: {last})"
        return taken, None

    @staticmethod
    def _result(
        ok: bool,
        anchor: str,
        problem: str | None,
        restart_s: float | None = None,
        history_kept: bool | None = None,
    ) -> Measurement:
        return Measurement(
            result={"ok": ok, "anchor": anchor, "restart_s": restart_s, "history_kept": history_kept},
            evidence=f"anchor {anchor}; gateway back in {restart_s}s"
            if restart_s is not None
            else f"anchor {anchor}; no restart attempted",
            problem=problem,
        )


KIND = KindInfo(
    "agent.restart-survival",
    "memory and session history survive a gateway restart",
    RestartParams,
    RestartSurvivalProbe,
)
