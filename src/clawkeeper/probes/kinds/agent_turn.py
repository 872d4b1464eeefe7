"""`agent.turn`: a message in, a reply out, through the gateway and the agent's model.

The reply must carry the turn's nonce, which only a model that read this message can produce;
with the probe model, the request log must also show that the turn reached the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from clawkeeper.probes import script
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.agent_turns import require_agent, run_turn, session_key
from clawkeeper.probes.kinds.base import KindInfo, KindParams, Measurement, Requirement, excerpt

MODEL_PROBE = frozenset({Requirement.CLI, Requirement.MODEL})


class AgentTurnParams(KindParams):
    pass


@dataclass(frozen=True)
class AgentTurnProbe:
    params: AgentTurnParams
    requires: frozenset[Requirement] = MODEL_PROBE

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        agent = require_agent(env)
        nonce = script.new_nonce("T")
        answer = f"CK-OK {nonce} turn"
        steps = script.Script(nonce=nonce, say=answer)
        turn = run_turn(
            env,
            steps,
            instructions=f"clawkeeper capability check. Reply with exactly this text, nothing else: {answer}",
            session_key=session_key("turn", nonce),
            timeout_s=timeout_s,
        )
        problem = None
        if not turn.completed:
            problem = f"the agent turn failed: {turn.failure_reason()}"
        elif agent.scripted and not turn.requests:
            problem = "the turn finished but never reached the probe model (the agent did not call its model)"
        elif nonce not in turn.reply:
            problem = f"the agent replied, but not with this turn's answer: {excerpt(turn.reply, 120)!r}"
        return Measurement(
            result={"ok": problem is None, **turn.summary()},
            evidence=f"turn {turn.status or 'failed'} in {turn.latency_ms:g} ms, "
            f"{len(turn.requests)} model request(s), reply {excerpt(turn.reply, 60)!r}",
            problem=problem,
        )


KIND = KindInfo(
    "agent.turn",
    "one agent turn through the gateway: a message in, a reply out",
    AgentTurnParams,
    AgentTurnProbe,
)
