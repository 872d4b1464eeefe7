"""`agent.tool-call`: the agent really executes a tool and the result comes back to the model.

The command is `echo CKT-$((6*7))-<nonce>`: the expected output `CKT-42-<nonce>` appears only if
a shell evaluated it, so an agent that echoes the arguments back cannot pass. With the probe
model the log must show the output arriving as a tool result, which is what "the result comes
back" means.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from clawkeeper.probes import script
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.agent_turn import MODEL_PROBE
from clawkeeper.probes.kinds.agent_turns import require_agent, run_turn, session_key
from clawkeeper.probes.kinds.base import KindInfo, KindParams, Measurement, Requirement, excerpt


class ToolCallParams(KindParams):
    tool: str = Field(default="exec", pattern=r"^[A-Za-z0-9_.:-]+$", description="the shell tool's name")


@dataclass(frozen=True)
class ToolCallProbe:
    params: ToolCallParams
    requires: frozenset[Requirement] = MODEL_PROBE

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        agent = require_agent(env)
        tool = self.params.tool
        nonce = script.new_nonce("X")
        expected = f"CKT-42-{nonce}"
        command = f"echo CKT-$((6*7))-{nonce}"
        steps = script.Script(nonce=nonce, calls=(script.ToolStep(tool, {"command": command}),))
        turn = run_turn(
            env,
            steps,
            instructions=f"clawkeeper capability check. Use your {tool} tool to run this shell command, "
            f"then reply with exactly what it printed: {command}",
            session_key=session_key("tool", nonce),
            timeout_s=timeout_s,
        )
        results = turn.tool_results()
        came_back = any(expected in r for r in results)
        problem = None
        if not turn.completed:
            problem = f"the agent turn failed: {turn.failure_reason()}"
        elif agent.scripted and turn.refused_tool() is not None:
            offered = ", ".join(turn.offered()) or "none"
            problem = f"the agent did not offer the {tool} tool to its model (offered: {offered})"
        elif agent.scripted and not came_back and tool not in turn.offered():
            said = f"; the tool_call bridge answered: {excerpt(results[-1], 120)}" if results else ""
            problem = (
                f"the {tool} tool is not available to the agent: it is not among the tools offered to "
                f"its model (policy or profile denies it?){said}"
            )
        elif agent.scripted and not came_back:
            shown = excerpt(results[-1], 160) if results else "no tool result at all"
            problem = f"the {tool} tool did not return the command's output: {shown}"
        elif expected not in turn.reply:
            problem = (
                f"the reply does not contain the command's output {expected}: {excerpt(turn.reply, 120)!r}"
            )
        return Measurement(
            result={
                "ok": problem is None,
                "expected": expected,
                "tool_result_seen": came_back,
                "tool_results": [excerpt(r, 300) for r in results],
                **turn.summary(),
            },
            evidence=f"turn {turn.status or 'failed'} in {turn.latency_ms:g} ms; tools used: "
            f"{', '.join(turn.tools) or 'none'}; output {'came back' if came_back else 'missing'}",
            problem=problem,
        )


KIND = KindInfo(
    "agent.tool-call",
    "the agent runs a shell command through its exec tool and gets the output",
    ToolCallParams,
    ToolCallProbe,
)
