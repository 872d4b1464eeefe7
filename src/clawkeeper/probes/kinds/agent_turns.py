"""One agent turn through the gateway (`openclaw agent --agent <probe agent> --json`), and what
the probe model saw of it. Shared by the agent capability kinds.

Each message starts with plain instructions (so a real model, when the user opted in to one, can
do the same golden task) followed by the probe model's directives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.effects.proc import parse_json_output
from clawkeeper.errors import AgentProtocolError, OperationTimeout
from clawkeeper.probes import model_log, script
from clawkeeper.probes.env import AgentAccess, ProbeEnv
from clawkeeper.probes.kinds.base import MeasurementError, excerpt
from clawkeeper.probes.kinds.rpc import error_message

CLI_GRACE_S = 20.0  # the CLI's own start-up and shutdown on top of the turn's timeout


@dataclass(frozen=True)
class Turn:
    nonce: str
    session_key: str
    exit_code: int
    status: str | None  # "ok" | "error" | "timeout" as OpenClaw reports it
    reply: str
    tools: tuple[str, ...]
    tool_failures: int
    error: str | None
    latency_ms: float
    requests: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def completed(self) -> bool:
        return self.exit_code == 0 and self.status == "ok"

    def failure_reason(self) -> str:
        if self.error:
            return excerpt(self.error, 220)
        return f"status {self.status or 'unknown'}, exit {self.exit_code}"

    def tool_results(self) -> list[str]:
        return model_log.tool_results(list(self.requests))

    def offered(self) -> list[str]:
        return model_log.offered(list(self.requests))

    def refused_tool(self) -> str | None:
        """The probe model's note when a tool the script asked for was not offered."""
        for decision in model_log.decisions(list(self.requests)):
            if decision.get("kind") == "error":
                return str(decision.get("text") or "")
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "session": self.session_key,
            "status": self.status,
            "exit_code": self.exit_code,
            "reply": self.reply[:1000],
            "tools": list(self.tools),
            "latency_ms": self.latency_ms,
            "model_requests": len(self.requests),
        }


def require_agent(env: ProbeEnv) -> AgentAccess:
    if env.agent is None:
        raise RuntimeError("model-dependent probe without agent access; the runner checks requirements first")
    return env.agent


def _payload_text(document: dict[str, Any]) -> str:
    result = document.get("result")
    payloads = result.get("payloads") if isinstance(result, dict) else None
    if not isinstance(payloads, list):
        return ""
    return "\n".join(str(p.get("text") or "") for p in payloads if isinstance(p, dict))


def _tool_summary(document: dict[str, Any]) -> tuple[tuple[str, ...], int]:
    result = document.get("result")
    meta = result.get("meta") if isinstance(result, dict) else None
    summary = meta.get("toolSummary") if isinstance(meta, dict) else None
    if not isinstance(summary, dict):
        return (), 0
    tools = summary.get("tools")
    failures = summary.get("failures")
    return (
        tuple(str(t) for t in tools) if isinstance(tools, list) else (),
        int(failures) if isinstance(failures, int) else 0,
    )


def _error_text(document: dict[str, Any], stderr: str) -> str | None:
    message = error_message(document)
    if message:
        return message
    error = document.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    result = document.get("result")
    meta = result.get("meta") if isinstance(result, dict) else None
    if isinstance(meta, dict):
        meta_error = meta.get("error")
        if isinstance(meta_error, dict) and meta_error.get("message"):
            return str(meta_error["message"])
        if isinstance(meta_error, str):
            return meta_error
    summary = document.get("summary")
    if document.get("status") not in (None, "ok") and isinstance(summary, str):
        return summary
    return stderr or None


def run_turn(
    env: ProbeEnv,
    steps: script.Script,
    *,
    instructions: str,
    session_key: str,
    timeout_s: float,
) -> Turn:
    """Send one message to the probe agent and wait for the turn to finish."""
    agent = require_agent(env)
    message = steps.render(instructions)
    turn_timeout = max(int(timeout_s - CLI_GRACE_S), 10)
    started = time.monotonic()
    try:
        result = env.openclaw(
            "agent",
            "--agent",
            agent.agent_id,
            "--session-key",
            session_key,
            "--message",
            message,
            "--json",
            "--timeout",
            str(turn_timeout),
            timeout=timeout_s,
        )
    except OperationTimeout as exc:
        raise MeasurementError(f"the agent turn did not finish within {timeout_s:g}s") from exc
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    document: Any = None
    if result.stdout.strip():
        try:
            document = parse_json_output(result.stdout, what="openclaw agent")
        except AgentProtocolError:
            document = None
    if not isinstance(document, dict):
        if result.returncode == 0:
            raise MeasurementError(f"`openclaw agent` printed no JSON result: {excerpt(result.stdout, 160)}")
        document = {}
    tools, failures = _tool_summary(document)
    requests = tuple(agent.model_log.for_nonce(steps.nonce)) if agent.model_log is not None else ()
    status = document.get("status")
    return Turn(
        nonce=steps.nonce,
        session_key=session_key,
        exit_code=result.returncode,
        status=str(status) if isinstance(status, str) else None,
        reply=_payload_text(document),
        tools=tools,
        tool_failures=failures,
        error=None
        if result.returncode == 0 and status == "ok"
        else _error_text(document, result.stderr_tail()),
        latency_ms=latency_ms,
        requests=requests,
    )


def session_key(kind: str, nonce: str) -> str:
    return f"clawkeeper-{kind}-{nonce.lower()}"
