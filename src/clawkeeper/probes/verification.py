"""One verification: set up the probe agent if the suite needs it, run the suite, clean up.

This is the entry point the CLI (`clawkeeper verify`), the update runbook and drills call. It
decides whether model-dependent probes may run here (always in a sandbox; on a live agent only
with consent), starts the probe model where the gateway can reach it, makes sure the probe agent
is registered (written once; later runs write nothing unless something changed, because config
writes can restart the gateway), runs the suite and stops the model — even when the run fails
or is interrupted. Every config change is a ledger step when a recorder is given.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.effects import fs
from clawkeeper.errors import ClawkeeperError, ResourceConflict
from clawkeeper.probes.baseline import BaselineSource, NoBaselines
from clawkeeper.probes.env import AgentAccess, ProbeEnv
from clawkeeper.probes.model_runtime import ModelServerProcess, start_model_server
from clawkeeper.probes.provider import ProbeIds, ProbeRegistration, safe_remove
from clawkeeper.probes.runner import Progress, SuiteReport, run_suite
from clawkeeper.probes.settings import ProbeSettings
from clawkeeper.probes.suites import Suite

StepRecorder = Callable[[str, Mapping[str, Any]], AbstractContextManager[dict[str, Any]]]
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
    sleep: Callable[[float], None] = time.sleep  # every wait goes through it (tests pass a fake clock)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "target"


def workdir_for(settings: ProbeSettings, target_label: str) -> Path:
    """Where the registration record, the remembered port and the model logs of a target live."""
    return settings.workdir / slug(target_label)


@contextlib.contextmanager
def _no_step(_name: str, _intent: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield {}


def consent_reason(sandbox: bool, settings: ProbeSettings) -> str | None:
    """Why the probe agent must not be added here, or None when it may."""
    if sandbox or settings.live_consent:
        return None
    return (
        "adding clawkeeper's probe agent to a live agent is opt-in: set `live_consent = true` in the "
        "[probes] section of clawkeeper.toml (`clawkeeper verify --remove-probe-agent` takes it out "
        "again), or verify a lab or canary instead"
    )


class _AgentSetup:
    """Starts the model and makes sure the probe agent is registered; `close` stops the model."""

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
        base_url = None
        if settings.real_model is None:
            run_dir = self.workdir / datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
            try:
                self.server = self._start_server(run_dir, request.target.exec_prefix)
            except ClawkeeperError as exc:
                return None, f"the probe model could not start: {exc.one_line()}"
            base_url = self.server.base_url
            self.notes.append(f"probe model on {base_url}; requests logged to {self.server.log.path}")
        self.registration = ProbeRegistration(
            self.env, self.workdir, ProbeIds(provider=settings.provider_id, agent=settings.agent_id)
        )
        try:
            plan = self.registration.plan(
                base_url=base_url, sandbox=request.sandbox, real_model=settings.real_model
            )
        except ClawkeeperError as exc:
            return None, f"could not read the agent's config to add the probe agent: {exc.one_line()}"
        if plan.refused:
            return None, f"the probe agent was not added: {plan.refused}"
        if plan.patch:
            try:
                with self.record("probe-agent.register", plan.to_json()) as detail:
                    self.registration.apply(plan)
                    detail["changes"] = list(plan.changes)
            except ClawkeeperError as exc:
                return None, f"the probe agent could not be added: {exc.one_line()}"
            self.notes.append("probe agent set up: " + "; ".join(plan.changes))
            settle(self.env)
        log = self.server.log if self.server is not None else None
        return AgentAccess(agent_id=plan.ids.agent, model_ref=plan.model_ref, model_log=log), ""

    def _start_server(self, run_dir: Path, exec_prefix: Sequence[str]) -> ModelServerProcess:
        """Start the model, on the port of the last run when none is configured: an unchanged
        base URL means no config write, and so no gateway reload, on every run but the first."""
        configured = self.request.settings.model_port
        remembered = self.workdir / "model-port.json"
        port = configured or _read_port(remembered)
        try:
            server = start_model_server(run_dir, exec_prefix=exec_prefix, port=port)
        except ResourceConflict:
            if configured:
                raise
            server = start_model_server(run_dir, exec_prefix=exec_prefix, port=0)
        fs.atomic_write_json(remembered, {"port": server.port})
        return server

    def close(self) -> None:
        if self.registration is not None and self.request.settings.remove_after_run:
            self.notes.extend(remove_probe_agent(self.registration, self.record))
        if self.server is not None:
            self.server.stop()
        _prune_run_dirs(self.workdir)


def remove_probe_agent(registration: ProbeRegistration, record: StepRecorder | None = None) -> list[str]:
    """Remove the probe agent and provider and restore the user's values; notes for the report."""
    if registration.pending() is None:
        return ["no probe agent is registered on this target"]
    with (record or _no_step)("probe-agent.remove", {"agent": registration.ids.agent}) as detail:
        done, error = safe_remove(registration)
        detail["done"] = done
        if error:
            detail["error"] = error
    return [f"probe agent NOT removed: {error}"] if error else ["probe agent removed: " + "; ".join(done)]


def settle(env: ProbeEnv, watch_s: float = 8.0) -> None:
    """After a config write, give the gateway the moment it needs to notice, and if it restarts
    (OpenClaw restarts for some changes), wait until it is ready again before probing."""
    if env.http_base is None:
        return
    before = env.gateway_state()
    for _ in range(int(watch_s / 0.5)):
        env.sleep(0.5)
        state = env.gateway_state()
        restarted = not state.ready or (
            before.uptime_ms is not None
            and state.uptime_ms is not None
            and state.uptime_ms < before.uptime_ms
        )
        if restarted:
            env.wait_ready(restarting=True)
            return


def _read_port(path: Path) -> int:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("port", 0)
    except (FileNotFoundError, ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and 0 < value < 65536 else 0


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
    """Run `request.suite` against the target and return the report (a verdict is never raised)."""
    record = record_step or _no_step
    settings = request.settings
    env = ProbeEnv(
        target=request.target,
        http_base=request.target.http_base if request.target is not None else None,
        baselines=request.baselines,
        restart_gateway=request.restart_gateway,
        ready_wait_s=settings.ready_wait,
        sleep=request.sleep,
    )
    setup = _AgentSetup(request, env, workdir_for(settings, request.target_label), record)
    notes: list[str] = []
    try:
        if request.suite.needs_model(request.only):
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
