"""How one run of a job happens: a `clawkeeper ... --json` subprocess, or an in-process call.

`ProcessRunner` starts the CLI with the keeper's own interpreter and `--config`, its output going
to `<job>.log` next to the job's lock (the last run's output only), waits with the job's time
limit, and stops the child's whole process group on timeout or when the keeper's drain runs out
of grace. The child records its own ledger run; the scheduler links it by PID.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from clawkeeper.effects import proc
from clawkeeper.errors import AgentProtocolError, ClawkeeperError, ExitCode, OperationTimeout
from clawkeeper.monitor.schedule.jobs import CallAction, CliAction, Job, JobContext

LOG_TAIL_BYTES = 1 << 20
WAIT_TICK_S = 0.5


class JobOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # includes timeouts and errors
    INTERRUPTED = "interrupted"  # stopped by the keeper's shutdown (or a signal)
    SKIPPED = "skipped"  # not run: the job was still running, or another process held its lock


@dataclass(frozen=True)
class JobResult:
    outcome: JobOutcome
    exit_code: int
    error: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    child_pid: int | None = None
    child_run_id: int | None = None  # the child's own ledger run, when its output names it
    timed_out: bool = False


class JobRunner(Protocol):
    def describe(self, job: Job) -> list[str]:
        """What running `job` means, for display: an argv, or a one-item label."""
        ...

    def run(self, job: Job, ctx: JobContext) -> JobResult:
        """Run `job` to the end (called in a worker thread). Never raises for the job's failure."""
        ...


class _Cancelled(Exception):
    pass


class ProcessRunner:
    def __init__(
        self,
        config_path: Path | None,
        *,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        # absolute: a relative --config would depend on the child's working directory
        self.config_path = config_path.absolute() if config_path is not None else None
        self.python = python or sys.executable
        self.extra_env = {"PYTHONUNBUFFERED": "1", **(extra_env or {})}

    def argv(self, action: CliAction) -> list[str]:
        head = [self.python, "-m", "clawkeeper"]
        if self.config_path is not None:
            head += ["--config", str(self.config_path)]
        return [*head, *action.args]

    def describe(self, job: Job) -> list[str]:
        action = job.spec.action
        if isinstance(action, CliAction):
            return proc.redact_argv(self.argv(action))
        if isinstance(action, CallAction):
            return [action.label]
        return []

    def run(self, job: Job, ctx: JobContext) -> JobResult:
        action = job.spec.action
        if isinstance(action, CliAction):
            return self._subprocess(self.argv(action), ctx)
        if isinstance(action, CallAction):
            return _call(action, ctx)
        return JobResult(JobOutcome.FAILED, int(ExitCode.ENVIRONMENT), error=f"{job.name}: {job.why_not}")

    def _subprocess(self, argv: Sequence[str], ctx: JobContext) -> JobResult:
        with contextlib.suppress(FileNotFoundError):
            ctx.log_path.unlink()  # the log holds the last run only
        started = time.monotonic()
        try:
            child = proc.spawn(argv, log_path=ctx.log_path, extra_env=self.extra_env)
        except ClawkeeperError as exc:
            return JobResult(JobOutcome.FAILED, int(exc.exit_code), error=exc.one_line())
        ctx.on_spawn(child.pid)
        detail: dict[str, Any] = {"argv": proc.redact_argv(argv), "log": str(ctx.log_path), "pid": child.pid}

        def check_cancel(_elapsed: float) -> None:
            if ctx.cancel.is_set():
                raise _Cancelled

        try:
            code = proc.wait(
                child, timeout=ctx.timeout_s, argv=argv, on_tick=check_cancel, tick_s=WAIT_TICK_S
            )
        except OperationTimeout as exc:
            detail["duration_s"] = round(time.monotonic() - started, 3)
            return JobResult(
                JobOutcome.FAILED,
                int(ExitCode.TIMEOUT),
                error=exc.message,
                detail=detail,
                child_pid=child.pid,
                timed_out=True,
            )
        except _Cancelled:
            detail["duration_s"] = round(time.monotonic() - started, 3)
            return JobResult(
                JobOutcome.INTERRUPTED,
                int(ExitCode.INTERRUPTED),
                error="stopped: the keeper shut down and the drain grace ran out",
                detail=detail,
                child_pid=child.pid,
            )
        detail["duration_s"] = round(time.monotonic() - started, 3)
        detail["exit_code"] = code
        output = _tail(ctx.log_path)
        document = _json_document(output)
        child_run_id: int | None = None
        if document is not None:
            detail["output"] = _summary(document)
            run_id = document.get("run_id")
            if isinstance(run_id, int) and not isinstance(run_id, bool):
                child_run_id = run_id
        if code == 0:
            return JobResult(JobOutcome.OK, 0, detail=detail, child_pid=child.pid, child_run_id=child_run_id)
        outcome = JobOutcome.INTERRUPTED if code == int(ExitCode.INTERRUPTED) else JobOutcome.FAILED
        return JobResult(
            outcome,
            code,
            error=_error_line(output) or f"exited {code}",
            detail=detail,
            child_pid=child.pid,
            child_run_id=child_run_id,
        )


def _call(action: CallAction, ctx: JobContext) -> JobResult:
    started = time.monotonic()
    try:
        detail = dict(action.func(ctx))
    except ClawkeeperError as exc:
        return JobResult(JobOutcome.FAILED, int(exc.exit_code), error=exc.one_line())
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded, never propagated to the keeper
        return JobResult(JobOutcome.FAILED, int(ExitCode.INTERNAL), error=f"{type(exc).__name__}: {exc}")
    detail["duration_s"] = round(time.monotonic() - started, 3)
    return JobResult(JobOutcome.OK, 0, detail=detail)


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - limit))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _json_document(output: str) -> dict[str, Any] | None:
    if not output.strip():
        return None
    try:
        value = proc.parse_json_output(output, what="job output")
    except AgentProtocolError:
        return None
    return value if isinstance(value, dict) else None


def _summary(document: Mapping[str, Any], limit: int = 20) -> dict[str, Any]:
    """The scalar fields of the child's JSON document: enough to read in `history --run`."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, bool | int | float | str) or value is None:
            out[key] = value if not isinstance(value, str) else value[:200]
        if len(out) >= limit:
            break
    return out


def _error_line(output: str) -> str | None:
    """The child's one-line error (`clawkeeper: error: ...`), else its last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("clawkeeper:"):
            return line[:500]
    return lines[-1][:500] if lines else None
