"""`gateway-rpc`: call a gateway method (`openclaw gateway call <method> --json`).

The result holds the method's JSON answer under `response`, so conditions can look inside it:
`result.response.runtimeVersion == "2026.9.6"`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from clawkeeper.errors import AgentProtocolError, OperationTimeout
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    excerpt,
)


class RpcParams(KindParams):
    method: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    params: dict[str, Any] = Field(default_factory=dict)


def error_message(document: Any) -> str | None:
    """The message of OpenClaw's JSON failure envelope `{ok: false, error: {message}}`."""
    if isinstance(document, dict) and document.get("ok") is False:
        error = document.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return None


def failure_text(document: Any, stderr: str, code: int) -> str:
    """What went wrong with a CLI call, in its own words: the JSON error envelope on stdout, a JSON
    error on stderr (the CLI prints one when it cannot reach the gateway), or stderr's tail."""
    message = error_message(document)
    if message:
        return message
    text = stderr.strip().replace(" | ", "\n")
    start = text.find("{")
    if start >= 0:
        try:
            parsed, _end = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            found = error_message({"ok": False, **parsed}) or parsed.get("reason") or parsed.get("message")
            if isinstance(found, str) and found:
                return found
    return stderr or f"exit {code}"


def gateway_call(
    env: ProbeEnv, method: str, params: dict[str, Any], timeout_s: float
) -> tuple[int, Any, str]:
    """(exit code, parsed JSON or None, stderr). Timeouts and garbage raise MeasurementError."""
    wait_ms = str(int(max(timeout_s - 2.0, 1.0) * 1000))
    try:
        result, document = env.openclaw_json(
            "gateway",
            "call",
            method,
            "--params",
            json.dumps(params),
            "--json",
            "--timeout",
            wait_ms,
            timeout=timeout_s,
            what=f"gateway call {method}",
        )
    except OperationTimeout as exc:
        raise MeasurementError(f"gateway call {method} did not answer within {timeout_s:g}s") from exc
    except AgentProtocolError as exc:
        raise MeasurementError(exc.message) from exc
    return result.returncode, document, result.stderr[-4000:].strip()


@dataclass(frozen=True)
class RpcProbe:
    params: RpcParams

    @property
    def requires(self) -> frozenset[Requirement]:
        return frozenset({Requirement.CLI})

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        method = self.params.method
        code, document, stderr = gateway_call(env, method, dict(self.params.params), timeout_s)
        failure = error_message(document)
        ok = code == 0 and failure is None
        problem = None
        if not ok:
            problem = f"gateway call {method} failed: {excerpt(failure_text(document, stderr, code), 200)}"
        return Measurement(
            result={"ok": ok, "exit_code": code, "response": document},
            evidence=f"gateway call {method} → exit {code}",
            problem=problem,
        )


KIND = KindInfo(
    name="gateway-rpc",
    summary="call a gateway RPC method through `openclaw gateway call`",
    params=RpcParams,
    build=RpcProbe,
)
