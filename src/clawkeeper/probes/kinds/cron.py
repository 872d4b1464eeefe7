"""`agent.cron`: a one-shot job is scheduled and observed to fire.

The job (`cron add --at <delay>s`, isolated session, no delivery) runs a probe turn on the probe
agent; the probe polls `cron runs` until the run is recorded, checks it succeeded with the turn's
answer, and removes the job whatever happened. When the job never runs, `cron status` tells
whether automations are disabled, which is the usual reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from clawkeeper.errors import AgentProtocolError, ClawkeeperError, OperationTimeout
from clawkeeper.probes import script
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.agent_turn import MODEL_PROBE
from clawkeeper.probes.kinds.agent_turns import require_agent
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    excerpt,
)
from clawkeeper.probes.kinds.rpc import error_message

POLL_S = 2.0
CLI_TIMEOUT_S = 45.0


class CronParams(KindParams):
    delay_s: int = Field(default=10, ge=2, le=600, description="seconds from now until the job is due")
    fire_grace_s: float = Field(default=60.0, gt=0, le=1800, description="how late it may fire")


def _job_id(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    for candidate in (document, document.get("job")):
        if isinstance(candidate, dict) and isinstance(candidate.get("id"), str):
            return str(candidate["id"])
    return None


def _runs(document: Any) -> list[dict[str, Any]]:
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        entries = document.get("runs") if isinstance(document, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _finished(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in entries:
        if entry.get("action") in (None, "finished") and entry.get("status") not in (None, "running"):
            return entry
    return None


@dataclass(frozen=True)
class CronProbe:
    params: CronParams
    requires: frozenset[Requirement] = MODEL_PROBE

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        agent = require_agent(env)
        nonce = script.new_nonce("C")
        answer = f"CK-CRON {nonce} fired"
        message = script.Script(nonce=nonce, say=answer).render(
            f"clawkeeper scheduled check. Reply with exactly this text and nothing else: {answer}"
        )
        started = time.monotonic()
        deadline = started + min(timeout_s, self.params.delay_s + self.params.fire_grace_s)
        try:
            added = env.openclaw_json(
                "cron",
                "add",
                "--name",
                f"clawkeeper-probe-{nonce.lower()}",
                "--at",
                f"{self.params.delay_s}s",
                "--agent",
                agent.agent_id,
                "--session",
                "isolated",
                "--no-deliver",
                "--keep-after-run",
                "--message",
                message,
                "--json",
                timeout=CLI_TIMEOUT_S,
                what="cron add",
            )
        except (OperationTimeout, AgentProtocolError) as exc:
            raise MeasurementError(f"cron add could not be run: {exc}") from exc
        result, document = added
        job_id = _job_id(document)
        if result.returncode != 0 or job_id is None:
            reason = error_message(document) or result.stderr_tail() or f"exit {result.returncode}"
            return Measurement(
                result={"ok": False, "scheduled": False, "fired": False, "nonce": nonce},
                evidence="cron add failed",
                problem=f"could not schedule a one-shot cron job: {excerpt(reason, 200)}",
            )
        try:
            # A disabled scheduler never runs the job: say so now rather than after the grace period.
            run = None if _scheduler_disabled(env) else self._wait_for_run(env, job_id, deadline)
        finally:
            self._remove(env, job_id)
        waited_ms = round((time.monotonic() - started) * 1000, 1)
        if run is None:
            return Measurement(
                result={
                    "ok": False,
                    "scheduled": True,
                    "fired": False,
                    "nonce": nonce,
                    "job": job_id,
                    "latency_ms": waited_ms,
                },
                evidence=f"job {job_id} due in {self.params.delay_s}s; no run after {waited_ms / 1000:.0f}s",
                problem=self._why_not_fired(env, waited_ms / 1000),
            )
        summary = str(run.get("summary") or "")
        ok = run.get("status") == "ok" and (nonce in summary or not agent.scripted)
        problem = None
        if run.get("status") != "ok":
            problem = (
                f"the cron job ran but failed: {excerpt(str(run.get('error') or run.get('status')), 200)}"
            )
        elif not ok:
            problem = f"the cron job ran but did not produce its answer: {excerpt(summary, 120)!r}"
        return Measurement(
            result={
                "ok": ok,
                "scheduled": True,
                "fired": True,
                "nonce": nonce,
                "job": job_id,
                "status": run.get("status"),
                "summary": summary[:500],
                "latency_ms": waited_ms,
                "run_duration_ms": run.get("durationMs"),
            },
            evidence=f"job {job_id} fired; run {run.get('status')} in {run.get('durationMs')} ms",
            problem=problem,
        )

    def _wait_for_run(self, env: ProbeEnv, job_id: str, deadline: float) -> dict[str, Any] | None:
        env.sleep(max(min(self.params.delay_s - 1.0, deadline - time.monotonic()), 0.0))
        while True:
            try:
                result, document = env.openclaw_json(
                    "cron", "runs", "--id", job_id, "--json", timeout=CLI_TIMEOUT_S, what="cron runs"
                )
            except (OperationTimeout, AgentProtocolError) as exc:
                raise MeasurementError(f"cron runs could not be read: {exc}") from exc
            if result.returncode == 0:
                finished = _finished(_runs(document))
                if finished is not None:
                    return finished
            if time.monotonic() + POLL_S > deadline:
                return None
            env.sleep(POLL_S)

    @staticmethod
    def _remove(env: ProbeEnv, job_id: str) -> None:
        # Best effort: a job we cannot remove is reported by the next run's `cron list`, not fatal.
        try:
            env.openclaw("cron", "rm", job_id, "--json", timeout=CLI_TIMEOUT_S)
        except ClawkeeperError:
            return

    @staticmethod
    def _why_not_fired(env: ProbeEnv, waited_s: float) -> str:
        if _scheduler_disabled(env):
            return (
                "the job was scheduled but never ran: automations are disabled "
                "(cron.enabled is false or OPENCLAW_SKIP_CRON is set)"
            )
        return f"the job was scheduled but did not run within {waited_s:.0f}s of being added"


def _scheduler_disabled(env: ProbeEnv) -> bool:
    """True when `cron status` says automations are off; unknown counts as on."""
    try:
        _result, document = env.openclaw_json(
            "cron", "status", "--json", timeout=CLI_TIMEOUT_S, what="cron status"
        )
    except ClawkeeperError:
        return False
    return isinstance(document, dict) and document.get("enabled") is False


KIND = KindInfo("agent.cron", "a one-shot cron job is scheduled and observed to fire", CronParams, CronProbe)
