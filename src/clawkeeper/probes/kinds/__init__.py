"""The probe kinds, by the name a suite uses in `kind = "..."`."""

from __future__ import annotations

from clawkeeper.probes.kinds import (
    agent_turn,
    command,
    cron,
    databases,
    gates,
    http,
    inventory,
    memory,
    restart,
    rpc,
    tool_call,
)
from clawkeeper.probes.kinds.base import KindInfo

KINDS: dict[str, KindInfo] = {
    info.name: info
    for info in (
        http.KIND,
        command.KIND,
        rpc.KIND,
        *gates.KINDS,
        *inventory.KINDS,
        databases.KIND,
        agent_turn.KIND,
        tool_call.KIND,
        memory.KIND,
        cron.KIND,
        restart.KIND,
    )
}


def get_kind(name: str) -> KindInfo | None:
    return KINDS.get(name)
