"""Parsers for the JSON OpenClaw prints, one pure function per command or endpoint.

Each takes the decoded JSON and a `source` label (the command line, for error messages) and
returns a small dataclass of what clawkeeper needs. Only the fields clawkeeper relies on are
required; everything else is optional or ignored, so additive changes in new releases pass
through. Shapes were recorded from real 2026.8.2 and 2026.9.6 installs
(tests/fixtures/openclaw/<version>/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.agent.adapter import Finding
from clawkeeper.agent.openclaw.jsonshape import Shape

SEVERITIES = ("info", "warning", "error", "critical")
_SEVERITY_ALIASES = {"warn": "warning", "err": "error", "fatal": "critical"}


def normalize_severity(raw: str) -> str:
    lowered = raw.strip().lower()
    return _SEVERITY_ALIASES.get(lowered, lowered)


def failure_message(data: Any) -> str | None:
    """The message of OpenClaw's JSON failure envelope `{"ok": false, "error": {...}}`, if it is one.

    `--json` commands print this on stdout with a non-zero exit when they fail, for example when
    the gateway is unreachable.
    """
    if not isinstance(data, Mapping) or data.get("ok") is not False:
        return None
    error = data.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        kind = error.get("type")
        if isinstance(message, str) and message.strip():
            # first line only: the rest is OpenClaw's advice on how to start the gateway
            return message.strip().splitlines()[0]
        if isinstance(kind, str):
            return kind
    if isinstance(error, str) and error.strip():
        return error.strip().splitlines()[0]
    return "the command reported ok=false without an error message"


# --- HTTP probes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readiness:
    ready: bool
    failing: tuple[str, ...] = ()


def parse_readyz(data: Any, *, source: str) -> Readiness:
    """`GET /readyz`: `{"ready": bool, "failing": [...]}` (failing only for local callers)."""
    shape = Shape(data, source=source).require_object()
    ready = shape.req("ready", bool)
    failing: list[str] = []
    for item in shape.items("failing", required=False):
        if isinstance(item.data, str):
            failing.append(item.data)
        elif isinstance(item.data, Mapping):
            # tolerate a future object form: prefer an id, then a name
            label = item.opt("id", str) or item.opt("name", str) or item.opt("kind", str)
            failing.append(label or str(dict(item.data)))
        else:
            failing.append(str(item.data))
    return Readiness(ready=ready, failing=tuple(failing))


@dataclass(frozen=True)
class Startup:
    started: bool
    status: str | None
    version: str | None


def parse_startupz(data: Any, *, source: str) -> Startup:
    """`GET /startupz`: `{"ok", "status": starting|draining|started, "version"?}`."""
    shape = Shape(data, source=source).require_object()
    status = shape.opt("status", str)
    ok = shape.opt("ok", bool)
    if status is None and ok is None:
        raise shape.missing("status", "a string")
    started = status == "started" if status is not None else bool(ok)
    return Startup(started=started, status=status, version=shape.opt("version", str))


def parse_healthz(data: Any, *, source: str) -> bool:
    """`GET /healthz`: `{"ok": true, "status": "live"}`."""
    shape = Shape(data, source=source).require_object()
    ok = shape.opt("ok", bool)
    status = shape.opt("status", str)
    if ok is None and status is None:
        raise shape.missing("ok", "true/false")
    return bool(ok) or status == "live"


# --- RPC health and gateway status --------------------------------------------------------------


@dataclass(frozen=True)
class RpcHealth:
    ok: bool
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def parse_health(data: Any, *, source: str) -> RpcHealth:
    """`openclaw health --json`: the gateway's own health snapshot over its WebSocket RPC."""
    shape = Shape(data, source=source).require_object()
    ok = shape.req("ok", bool)
    if not ok:
        return RpcHealth(ok=False, error=failure_message(data) or "gateway health reported ok=false")
    plugins = shape.opt_obj("plugins")
    summary: dict[str, Any] = {
        "ok": True,
        "duration_ms": shape.opt("durationMs", float),
        "default_agent": shape.opt("defaultAgentId", str),
        "agents": len(shape.opt("agents", list) or []),
        "channels": len(shape.opt("channels", dict) or {}),
        "plugins_loaded": len(plugins.opt("loaded", list) or []) if plugins else None,
        "plugin_errors": len(plugins.opt("errors", list) or []) if plugins else None,
        "model_runtime_degraded": shape.opt("modelRuntime.degraded", bool),
        "event_loop_degraded": shape.opt("eventLoop.degraded", bool),
    }
    return RpcHealth(ok=True, summary=summary)


@dataclass(frozen=True)
class GatewayStatus:
    rpc_ok: bool
    running_version: str | None
    build_id: str | None
    cli_version: str | None
    port: int | None
    bind: str | None
    rpc_error: str | None
    service_label: str | None


def parse_gateway_status(data: Any, *, source: str) -> GatewayStatus:
    """`openclaw gateway status --json --require-rpc`.

    The running gateway's version is `rpc.server.version` (what answered the RPC), falling back
    to `gateway.version`; both are null/absent when the gateway is down.
    """
    shape = Shape(data, source=source).require_object()
    rpc = shape.obj("rpc")
    rpc_ok = rpc.req("ok", bool)
    version = rpc.opt("server.version", str) or rpc.opt("version", str) or shape.opt("gateway.version", str)
    error = rpc.opt("error", str)
    return GatewayStatus(
        rpc_ok=rpc_ok,
        running_version=version if rpc_ok else None,
        build_id=rpc.opt("server.buildId", str) if rpc_ok else None,
        cli_version=shape.opt("cli.version", str),
        port=shape.opt("gateway.port", int),
        bind=shape.opt("gateway.bindMode", str),
        rpc_error=error.strip().splitlines()[0] if error and error.strip() else None,
        service_label=shape.opt("service.label", str),
    )


# --- busy state -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayWork:
    """Work counters from the gateway's `status` RPC."""

    active: dict[str, int]
    source: str  # which part of the answer the counters came from
    runtime_version: str | None


def parse_status_rpc(data: Any, *, source: str) -> GatewayWork:
    """`openclaw gateway call status --json`.

    Gateways from 2026.9 carry `shutdownBudget.activeWork` (the counters a restart waits for) and
    `writeCustody[{phase, count}]`; 2026.8 has neither, only the task registry summary `tasks`
    (`active`, `byStatus.running`). One of the two must be there.
    """
    shape = Shape(data, source=source).require_object()
    runtime_version = shape.opt("runtimeVersion", str)
    budget = shape.opt_obj("shutdownBudget")
    if budget is not None:
        work = budget.obj("activeWork")
        active: dict[str, int] = {}
        for key in work.data:
            active[str(key)] = work.req(str(key), int)
        for entry in budget.items("writeCustody", required=False):
            phase = entry.req("phase", str)
            active[f"writeCustody:{phase}"] = active.get(f"writeCustody:{phase}", 0) + entry.req("count", int)
        return GatewayWork(active=active, source="shutdownBudget.activeWork", runtime_version=runtime_version)
    tasks = shape.opt_obj("tasks")
    if tasks is None:
        # name the field current gateways have: that is what a reader of the error should look for
        raise shape.missing("shutdownBudget.activeWork", "an object (or the older 'tasks' summary)")
    active = {"tasks.active": tasks.req("active", int)}
    return GatewayWork(active=active, source="tasks", runtime_version=runtime_version)


@dataclass(frozen=True)
class TaskList:
    count: int
    ids: tuple[str, ...] = ()


def parse_tasks(data: Any, *, source: str) -> TaskList:
    """`openclaw tasks list --status running --json`: `{"count", "tasks": [...]}`."""
    shape = Shape(data, source=source).require_object()
    tasks = list(shape.items("tasks"))
    ids = tuple(t.opt("id", str) or t.opt("taskId", str) or "?" for t in tasks)
    count = shape.opt("count", int)
    return TaskList(count=max(count if count is not None else 0, len(tasks)), ids=ids)


@dataclass(frozen=True)
class CronList:
    total: int
    running: tuple[str, ...]  # names (or ids) of jobs running now
    complete: bool  # False when the list was paginated and more jobs exist


def parse_cron_list(data: Any, *, source: str) -> CronList:
    """`openclaw cron list --json`: `{"jobs": [{id, name, status, state: {runningAtMs?}}], ...}`.

    A job runs when its `status` is "running" or its `state.runningAtMs` is set (status is
    computed from that field by the gateway).
    """
    shape = Shape(data, source=source).require_object()
    running: list[str] = []
    jobs = list(shape.items("jobs"))
    for job in jobs:
        status = job.opt("status", str)
        running_at = job.opt("state.runningAtMs", float)
        if status == "running" or running_at is not None:
            running.append(job.opt("name", str) or job.opt("id", str) or "?")
    total = shape.opt("total", int)
    return CronList(
        total=total if total is not None else len(jobs),
        running=tuple(running),
        complete=not shape.opt("hasMore", bool, False),
    )


# --- gates ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorLint:
    ok: bool | None
    findings: tuple[Finding, ...]
    checks_run: int | None
    error: str | None = None  # the failure envelope's message, when doctor itself failed


def parse_doctor_lint(data: Any, *, source: str) -> DoctorLint:
    """`openclaw doctor --lint --json`: `{ok, checksRun, findings: [{checkId, severity, message,
    path?, fixHint?}]}` (`schemaVersion: 1` from 2026.9)."""
    shape = Shape(data, source=source).require_object()
    if not shape.has("findings") and (message := failure_message(data)) is not None:
        return DoctorLint(ok=False, findings=(), checks_run=None, error=message)
    findings = tuple(
        Finding(
            check_id=item.req("checkId", str),
            severity=normalize_severity(item.req("severity", str)),
            message=item.req("message", str),
            path=item.opt("path", str),
            fix_hint=item.opt("fixHint", str),
        )
        for item in shape.items("findings")
    )
    return DoctorLint(ok=shape.opt("ok", bool), findings=findings, checks_run=shape.opt("checksRun", int))


@dataclass(frozen=True)
class ConfigIssue:
    path: str | None
    message: str


@dataclass(frozen=True)
class ConfigValidation:
    valid: bool
    path: str | None
    issues: tuple[ConfigIssue, ...]
    warnings: tuple[ConfigIssue, ...]


def _issues(shape: Shape, key: str) -> tuple[ConfigIssue, ...]:
    out: list[ConfigIssue] = []
    for item in shape.items(key, required=False):
        if isinstance(item.data, str):
            out.append(ConfigIssue(path=None, message=item.data))
        else:
            out.append(ConfigIssue(path=item.opt("path", str), message=item.req("message", str)))
    return tuple(out)


def parse_config_validate(data: Any, *, source: str) -> ConfigValidation:
    """`openclaw config validate --json`: `{"valid": true, "path", "warnings": []}` or, exit 1,
    `{"ok": false, "error": {...}, "valid": false, "path", "issues": [{path, message}]}`."""
    shape = Shape(data, source=source).require_object()
    return ConfigValidation(
        valid=shape.req("valid", bool),
        path=shape.opt("path", str),
        issues=_issues(shape, "issues"),
        warnings=_issues(shape, "warnings"),
    )


# --- install ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateStatus:
    root: str | None
    install_kind: str | None  # "package" | "git" | "unknown"
    package_manager: str | None  # "npm" | "pnpm" | "bun" | "unknown"
    channel: str | None
    latest_version: str | None
    registry_error: str | None


def parse_update_status(data: Any, *, source: str) -> UpdateStatus:
    """`openclaw update status --json`: install identity and registry availability."""
    shape = Shape(data, source=source).require_object()
    update = shape.obj("update")
    channel = shape.opt("channel.value", str) if shape.opt_obj("channel") else shape.opt("channel", str)
    return UpdateStatus(
        root=update.opt("root", str),
        install_kind=update.opt("installKind", str),
        package_manager=update.opt("packageManager", str),
        channel=channel,
        latest_version=update.opt("registry.latestVersion", str),
        registry_error=update.opt("registry.error", str),
    )
