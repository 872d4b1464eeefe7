"""`gateway_rpc`: what only the gateway's WebSocket RPC tells, read through the OpenClaw CLI.

Each run spawns `openclaw gateway call status --json`, `openclaw health --json` and
`openclaw cron list --json`, one after the other (never three Node processes at once on a small
box). Each spawn costs about 2 s of CPU, which is why this collector runs at its own slow
interval (`[monitor.collectors.gateway_rpc] interval`, default 15 min) and never at the keeper's
10 s tick. When the first call finds the gateway unreachable the other two are skipped and
`gateway_rpc_ok` is 0 — a down gateway is data; the collector itself fails (metrics stale) only
when the CLI is missing or answers in a shape clawkeeper does not understand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clawkeeper.agent.openclaw import outputs
from clawkeeper.agent.openclaw.adapter import CRON_ARGS, HEALTH_ARGS, STATUS_RPC_ARGS
from clawkeeper.effects import proc
from clawkeeper.errors import CommandFailed, OperationTimeout
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import gauge, info
from clawkeeper.monitor.collectors.gateway_shapes import (
    parse_cron_statuses,
    parse_health_details,
    parse_status_details,
)
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

CALL_TIMEOUT_S = 45.0
# Listed so a status that empties reads 0 rather than its last non-zero value.
CRON_STATUSES = ("running", "ok", "error", "skipped", "idle", "disabled")

METRICS: tuple[MetricInfo, ...] = (
    info("gateway_rpc_ok", "1 when the status and health RPCs answered, else 0."),
    info(
        "gateway_active_work",
        "Work a restart would wait for, by kind (status RPC shutdownBudget.activeWork; "
        "2026.8: tasks.active).",
        labels=("kind",),
    ),
    info(
        "gateway_delivery_ingress_pressure",
        "Inbound messages waiting in channel ingress lanes (health RPC deliveryQueues; 0 when none).",
    ),
    info("gateway_model_runtime_degraded", "1 when the gateway reports its model runtime degraded."),
    info("gateway_sessions", "Sessions of all agents (status RPC sessions.count)."),
    info(
        "agent_cron_jobs",
        "Cron jobs by status (running, ok, error, skipped, idle, disabled).",
        labels=("status",),
    ),
    info(
        "agent_tasks",
        "Background tasks in the gateway's registry by status (queued, running, succeeded, failed, ...).",
        labels=("status",),
    ),
)

Runner = Callable[[Sequence[str]], Any]
"""Runs `openclaw <args>` and returns its parsed JSON (a failure envelope included)."""


def cli_runner(link: AgentLink, timeout_s: float = CALL_TIMEOUT_S) -> Runner:
    def run(args: Sequence[str]) -> Any:
        target = link.target()
        _result, data = proc.run_json(
            target.argv(*args),
            timeout=timeout_s,
            what=_label(args),
            ok_codes=frozenset({0, 1}),  # gateway RPCs exit 1 with a JSON failure report when it is down
            env=target.process_env(),
        )
        return data

    return run


def _label(args: Sequence[str]) -> str:
    """`openclaw <args>` without the `--timeout N` we add (how errors name the command)."""
    shown = [a for i, a in enumerate(args) if a != "--timeout" and (i == 0 or args[i - 1] != "--timeout")]
    return "openclaw " + " ".join(shown)


class GatewayRpcCollector:
    name = "gateway_rpc"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(self, run: Runner) -> None:
        self._run = run

    def _call(self, args: Sequence[str]) -> tuple[Any, str | None]:
        """(data, problem): a timeout, an empty failure or OpenClaw's failure envelope is a problem."""
        try:
            data = self._run(args)
        except (OperationTimeout, CommandFailed) as exc:
            return None, exc.message
        message = outputs.failure_message(data)
        return (None, message) if message is not None else (data, None)

    def collect(self, ctx: CollectContext) -> list[Sample]:
        now = ctx.now
        status, _problem = self._call(STATUS_RPC_ARGS)
        if status is None:
            return [gauge("gateway_rpc_ok", 0, now)]
        out: list[Sample] = []
        source = _label(STATUS_RPC_ARGS)
        work = outputs.parse_status_rpc(status, source=source)
        for kind, count in sorted(work.active.items()):
            out.append(gauge("gateway_active_work", count, now, kind=kind))
        details = parse_status_details(status, source=source)
        for task_status, count in sorted(details.tasks_by_status.items()):
            out.append(gauge("agent_tasks", count, now, status=task_status))
        sessions = details.sessions
        degraded = details.model_runtime_degraded

        health, _problem = self._call(HEALTH_ARGS)
        health_ok = False
        if health is not None:
            parsed = outputs.parse_health(health, source=_label(HEALTH_ARGS))
            health_ok = parsed.ok
            if parsed.ok:
                more = parse_health_details(health, source=_label(HEALTH_ARGS))
                out.append(gauge("gateway_delivery_ingress_pressure", more.ingress_pending, now))
                if more.model_runtime_degraded is not None:
                    degraded = more.model_runtime_degraded
                if sessions is None:  # the status RPC counts every agent's; health the default one's
                    sessions = more.sessions
        out.append(gauge("gateway_rpc_ok", 1 if health_ok else 0, now))
        if degraded is not None:
            out.append(gauge("gateway_model_runtime_degraded", 1 if degraded else 0, now))
        if sessions is not None:
            out.append(gauge("gateway_sessions", sessions, now))

        cron, _problem = self._call(CRON_ARGS)
        if cron is not None:
            counts = {status: 0 for status in CRON_STATUSES}
            counts.update(parse_cron_statuses(cron, source=_label(CRON_ARGS)))
            out += [gauge("agent_cron_jobs", n, now, status=s) for s, n in sorted(counts.items())]
        return out
