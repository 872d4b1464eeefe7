"""One verification: set up the probe agent if the suite needs it, run the suite, clean up.

This is the entry point the CLI (`clawkeeper verify`), the update runbook and drills call. It
decides whether model-dependent probes may run here (always in a sandbox; on a live agent only
with consent), starts the probe model where the gateway can reach it, registers the probe agent,
runs the suite and removes what it added on a live agent — even when the run fails or is
interrupted. Every state change is a ledger step when a recorder is given.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ContextManager

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.errors import ClawkeeperError
from clawkeeper.probes.baseline import BaselineSource, NoBaselines
from clawkeeper.probes.env import AgentAccess, ProbeEnv
from clawkeeper.probes.model_runtime import ModelServerProcess, start_model_server
from clawkeeper.probes.provider import ProbeIds, ProbeRegistration, safe_remove
from clawkeeper.probes.runner import Progress, SuiteReport, run_suite
from clawkeeper.probes.settings import ProbeSettings
from clawkeeper.probes.suites import Suite

StepRecorder = Callable[[str, Mapping[str, Any]], ContextManager[dict[str, Any]]]
KEEP_RUN_DIRS = 5


@dataclass(frozen=True)
class VerifyRequest:
    suite: Suite
    target: OpenClawTarget | None
    target_label: str
    sandbox: bool  # a lab or canary: the probe agent may always be added
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    baselines: BaselineSource = field(default_factory=NoBaselines)
    restart_gateway: Callable[[], None] | None = None
    only: Sequence[str] = ()


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "target"


@contextlib.contextmanager
def _no_step(_name: str, _intent: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield {}


def consent_reason(sandbox: bool, settings: ProbeSettings) -> str | None:
    """Why the probe agent must not be added here, or None when it may."""
    if sandbox or settings.live_consent:
        return None
    return (
        "adding clawkeeper's probe agent to a live agent is opt-in: set `live_consent = true` in the "
        "[probes] section of clawkeeper.toml (it is removed again after each run), or verify a lab "
        "or canary instead"
    )


class _AgentSetup:
    """Starts the model, registers the probe agent; undoes both in `close`."""

    def __init__(self, request: VerifyRequest, env: ProbeEnv, workdir: Path, record: StepRecorder) -> None:
        self.request = request
        self.env = env
        self.workdir = workdir
        self.record = record
        self.server: ModelServerProcess | None = None
        self.registration: ProbeRegistration | None = None
        self.notes: list[str] = []

    def open(self) -> tuple[AgentAccess | None, str]:
        request, settings = self.request, self.request.settings
        reason = consent_reason(request.sandbox, settings)
        if reason is not None:
            return None, reason
        if request.target is None:
            return None, "this target has no OpenClaw CLI to register a probe agent with"
        ids = ProbeIds(provider=settings.provider_id, agent=settings.agent_id)
        run_dir = self.workdir / datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
        base_url = None
        if settings.real_model is None:
            try:
                self.server = start_model_server(
                    run_dir, exec_prefix=request.target.exec_prefix, port=settings.model_port
                )
            except ClawkeeperError as exc:
                return None, f"the probe model could not start: {exc.one_line()}"
            base_url = self.server.base_url
            self.notes.append(
                f"probe model listening on {base_url} (requests logged to {self.server.log.path})"
            )
        self.registration = ProbeRegistration(self.env, self.workdir, ids)
        try:
            plan = self.registration.plan(
                base_url=base_url, sandbox=request.sandbox, real_model=settings.real_model
            )
        except ClawkeeperError as exc:
            return None, f"could not read the agent's config to add the probe agent: {exc.one_line()}"
        if plan.refused:
            return None, f"the probe agent was not added: {plan.refused}"
        try:
            with self.record("probe-agent.register", plan.to_json()) as detail:
                self.registration.apply(plan)
                detail["changes"] = list(plan.changes)
        except ClawkeeperError as exc:
            return None, f"the probe agent could not be added: {exc.one_line()}"
        self.notes.append("probe agent set up: " + "; ".join(plan.changes))
        log = self.server.log if self.server is not None else None
        return AgentAccess(agent_id=ids.agent, model_ref=plan.model_ref, model_log=log), ""

    def close(self) -> None:
        keep = self.request.sandbox and self.request.settings.keep_sandbox_registration
        if self.registration is not None and not keep and self.registration.pending() is not None:
            with self.record("probe-agent.remove", {"agent": self.request.settings.agent_id}) as detail:
                done, error = safe_remove(self.registration)
                detail["done"] = done
                if error:
                    detail["error"] = error
            self.notes.append(
                f"probe agent NOT removed: {error}" if error else "probe agent removed: " + "; ".join(done)
            )
        if self.server is not None:
            self.server.stop()
        _prune_run_dirs(self.workdir)


def _prune_run_dirs(workdir: Path) -> None:
    runs = sorted(p for p in workdir.glob("run-*") if p.is_dir())
    for old in runs[:-KEEP_RUN_DIRS]:
        shutil.rmtree(old, ignore_errors=True)


def verify(
    request: VerifyRequest,
    *,
    progress: Progress | None = None,
    record_step: StepRecorder | None = None,
) -> SuiteReport:
    """Run `request.suite` against the target and return the report (never raises for a verdict)."""
    record = record_step or _no_step
    settings = request.settings
    env = ProbeEnv(
        target=request.target,
        http_base=request.target.http_base if request.target is not None else None,
        baselines=request.baselines,
        restart_gateway=request.restart_gateway,
        ready_wait_s=settings.ready_wait,
    )
    workdir = settings.workdir / slug(request.target_label)
    setup = _AgentSetup(request, env, workdir, record)
    notes: list[str] = []
    try:
        if request.suite.needs_model():
            env.agent, reason = setup.open()
            if env.agent is None:
                env.agent_unavailable = reason
                notes.append(f"model-dependent probes not run: {reason}")
        report = run_suite(
            request.suite, env, target_label=request.target_label, progress=progress, only=request.only
        )
    finally:
        setup.close()
    return SuiteReport(
        suite=report.suite,
        target=report.target,
        verdict=report.verdict,
        probes=report.probes,
        started_at=report.started_at,
        duration_s=report.duration_s,
        notes=(*setup.notes, *notes),
    )
