"""The parts of OpenClaw's answers the collectors need beyond `agent.openclaw.outputs`.

`outputs` has the adapter's parsers (readiness, startup, work counters, cron running jobs); these
read the extra fields a monitor wants from the same recorded shapes (tests/fixtures/openclaw/):
the event loop block of `/readyz` and of the RPCs, task counts by status and the session count of
the `status` RPC, the delivery queues of `health`, and every cron job's status. Same rules as
`outputs`: only what we use is required, a field of the wrong type is an AgentProtocolError.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.agent.openclaw.jsonshape import Shape


@dataclass(frozen=True)
class EventLoop:
    delay_p99_s: float | None
    utilization: float | None
    degraded: bool | None


def parse_event_loop(data: Any, *, source: str) -> EventLoop | None:
    """`eventLoop: {delayP99Ms, utilization, degraded, ...}` of /readyz (local callers), `health`
    and the `status` RPC; None when the answer has no such block (remote callers)."""
    shape = Shape(data, source=source).require_object()
    loop = shape.opt_obj("eventLoop")
    if loop is None:
        return None
    delay_ms = loop.opt("delayP99Ms", float)
    return EventLoop(
        delay_p99_s=delay_ms / 1000.0 if delay_ms is not None else None,
        utilization=loop.opt("utilization", float),
        degraded=loop.opt("degraded", bool),
    )


@dataclass(frozen=True)
class StatusDetails:
    """The `status` RPC beyond the busy counters: tasks by status, sessions, model runtime."""

    tasks_by_status: dict[str, int] = field(default_factory=dict)
    task_failures: int | None = None
    sessions: int | None = None
    model_runtime_degraded: bool | None = None


def parse_status_details(data: Any, *, source: str) -> StatusDetails:
    """`openclaw gateway call status --json`: `tasks.byStatus{queued,running,succeeded,failed,...}`,
    `sessions.count`, `modelRuntime.degraded` (2026.9; 2026.8 has no `modelRuntime` here)."""
    shape = Shape(data, source=source).require_object()
    by_status: dict[str, int] = {}
    tasks = shape.opt_obj("tasks")
    failures: int | None = None
    if tasks is not None:
        statuses = tasks.opt_obj("byStatus")
        if statuses is not None:
            for key in statuses.data:
                by_status[str(key)] = statuses.req(str(key), int)
        failures = tasks.opt("failures", int)
    return StatusDetails(
        tasks_by_status=by_status,
        task_failures=failures,
        sessions=shape.opt("sessions.count", int),
        model_runtime_degraded=shape.opt("modelRuntime.degraded", bool),
    )


@dataclass(frozen=True)
class HealthDetails:
    sessions: int | None
    model_runtime_degraded: bool | None
    ingress_pending: int  # messages waiting in channel ingress lanes (0: the gateway reports none)
    ingress_blocked: int
    failed_deliveries: int  # dead-lettered outbound deliveries


def parse_health_details(data: Any, *, source: str) -> HealthDetails:
    """`openclaw health --json` (ok=true): `deliveryQueues` appears only when something is queued
    or failed — `{failed: [{queueName, count}], ingressPressure: [{pendingCount, blockedCount,
    ...}]}` — so its absence means empty queues."""
    shape = Shape(data, source=source).require_object()
    pending = blocked = failed = 0
    queues = shape.opt_obj("deliveryQueues")
    if queues is not None:
        for lane in queues.items("ingressPressure", required=False):
            pending += lane.opt("pendingCount", int, 0)
            blocked += lane.opt("blockedCount", int, 0)
        for entry in queues.items("failed", required=False):
            failed += entry.opt("count", int, 0)
    return HealthDetails(
        sessions=shape.opt("sessions.count", int),
        model_runtime_degraded=shape.opt("modelRuntime.degraded", bool),
        ingress_pending=pending,
        ingress_blocked=blocked,
        failed_deliveries=failed,
    )


def parse_cron_statuses(data: Any, *, source: str) -> dict[str, int]:
    """`openclaw cron list --json`: jobs counted by `status` (running, ok, error, skipped, idle,
    disabled); a job whose `state.runningAtMs` is set counts as running."""
    shape = Shape(data, source=source).require_object()
    counts: Counter[str] = Counter()
    for job in shape.items("jobs"):
        status = job.opt("status", str)
        if job.opt("state.runningAtMs", float) is not None:
            status = "running"
        elif status is None:
            status = "disabled" if job.opt("enabled", bool) is False else "unknown"
        counts[status] += 1
    return dict(counts)
