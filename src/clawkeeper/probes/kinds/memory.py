"""`agent.memory`: store a unique anchor in one turn, recall it in a later turn of another session.

Turn 1 writes `memory/clawkeeper-probe.md` (the same file every time, so nothing accumulates) with
a fresh anchor; turn 2, in a new session that has no transcript to copy from, asks the memory
search tool for it. Only a working memory store and index can answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field

from clawkeeper.probes import script
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.agent_turn import MODEL_PROBE
from clawkeeper.probes.kinds.agent_turns import Turn, require_agent, run_turn, session_key
from clawkeeper.probes.kinds.base import KindInfo, KindParams, Measurement, Requirement, excerpt

MEMORY_FILE = "memory/clawkeeper-probe.md"


class MemoryParams(KindParams):
    search_tool: str = Field(default="memory_search", pattern=r"^[A-Za-z0-9_.:-]+$")
    write_tool: str = Field(default="write", pattern=r"^[A-Za-z0-9_.:-]+$")
    recall_attempts: int = Field(default=4, ge=1, le=20, description="searches before giving up")
    recall_delay_s: float = Field(default=3.0, ge=0, le=60, description="pause between searches")


def store_anchor(
    env: ProbeEnv, params: MemoryParams, anchor: str, session: str, timeout_s: float, path: str = MEMORY_FILE
) -> Turn:
    nonce = script.new_nonce("W")
    content = f"# clawkeeper probe\nThe clawkeeper probe anchor is {anchor}.\n"
    steps = script.Script(
        nonce=nonce,
        calls=(script.ToolStep(params.write_tool, {"path": path, "content": content}),),
        say=f"CK-OK {nonce} stored",
    )
    return run_turn(
        env,
        steps,
        instructions=f"clawkeeper memory check, step 1. Save this exact text to the file {path} in your "
        f"workspace with your {params.write_tool} tool, then reply 'stored': {content!r}",
        session_key=session,
        timeout_s=timeout_s,
    )


def recall_anchor(env: ProbeEnv, params: MemoryParams, anchor: str, session: str, timeout_s: float) -> Turn:
    nonce = script.new_nonce("R")
    steps = script.Script(
        nonce=nonce,
        calls=(script.ToolStep(params.search_tool, {"query": f"{anchor} clawkeeper probe anchor"}),),
    )
    return run_turn(
        env,
        steps,
        instructions=f"clawkeeper memory check, step 2. Search your memory with {params.search_tool} for "
        f"the clawkeeper probe anchor and reply with the anchor you find (it starts with {anchor[:6]}).",
        session_key=session,
        timeout_s=timeout_s,
    )


def recall_until_found(
    env: ProbeEnv,
    params: MemoryParams,
    anchor: str,
    session_for: Callable[[int], str],
    budget_s: float,
    scripted: bool,
) -> Turn:
    """Recall, retrying a few times: OpenClaw indexes a rewritten memory file a moment after the
    write, and the first search may still return the previous anchor. Each try is a new session."""
    deadline = time.monotonic() + budget_s
    attempt = 0
    while True:
        attempt += 1
        turn = recall_anchor(env, params, anchor, session_for(attempt), budget_s)
        found = turn.completed and anchor_found(turn, anchor, scripted)
        if found or not turn.completed or attempt >= params.recall_attempts:
            return turn
        if time.monotonic() + params.recall_delay_s + turn.latency_ms / 1000 > deadline:
            return turn
        env.sleep(params.recall_delay_s)


def anchor_found(turn: Turn, anchor: str, scripted: bool) -> bool:
    if scripted:
        return any(anchor in r for r in turn.tool_results())
    return anchor in turn.reply


@dataclass(frozen=True)
class MemoryProbe:
    params: MemoryParams
    requires: frozenset[Requirement] = MODEL_PROBE

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        agent = require_agent(env)
        anchor = f"CKMEM-{script.new_nonce()}"
        started = time.monotonic()
        half = timeout_s / 2
        stored = store_anchor(env, self.params, anchor, session_key("mem-store", anchor), half)
        problem = None
        recalled: Turn | None = None
        if not stored.completed:
            problem = f"storing the memory anchor failed: {stored.failure_reason()}"
        elif agent.scripted and stored.refused_tool() is not None:
            problem = f"the agent did not offer the {self.params.write_tool} tool to its model"
        else:
            recalled = recall_until_found(
                env,
                self.params,
                anchor,
                lambda n: session_key(f"mem-recall{n}", anchor),
                half,
                agent.scripted,
            )
            if not recalled.completed:
                problem = f"the recall turn failed: {recalled.failure_reason()}"
            elif agent.scripted and recalled.refused_tool() is not None:
                problem = f"the agent did not offer the {self.params.search_tool} tool to its model"
            elif not anchor_found(recalled, anchor, agent.scripted):
                results = recalled.tool_results()
                shown = excerpt(results[-1], 160) if results else excerpt(recalled.reply, 160)
                problem = f"memory search in a new session did not find the anchor stored earlier: {shown}"
        latency = round(time.monotonic() - started, 3) * 1000
        return Measurement(
            result={
                "ok": problem is None,
                "anchor": anchor,
                "latency_ms": latency,
                "store": stored.summary(),
                "recall": recalled.summary() if recalled else None,
            },
            evidence=f"stored {anchor} ({stored.status or 'failed'}), recall "
            f"{'found it' if problem is None else 'did not find it' if recalled else 'not attempted'}"
            f" in {latency:g} ms",
            problem=problem,
        )


KIND = KindInfo(
    "agent.memory",
    "store a unique anchor in memory, recall it from another session",
    MemoryParams,
    MemoryProbe,
)
