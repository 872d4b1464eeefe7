"""The scheduler the keeper runs: which jobs are due, start them off the loop, reap, drain.

Rules a user can rely on:
- a job fires at the slots of its cron expression, in the schedule's time zone;
- slots missed while the keeper was down are caught up with ONE run when it starts (`catch_up`),
  or passed over and noted when catch-up is off;
- never two runs of one job at once: a job still running at its next slot skips that slot (noted
  on the running run), and a flock per job keeps other processes (a second keeper, a manual
  `schedule run`) out — their attempt is recorded as skipped;
- at most `max_parallel` jobs run together; a due job waits for a free place;
- every run is a ledger run `schedule <job>` with one step; the child's own ledger run is linked
  in the step's detail (`child_run_id`);
- `request_stop(grace)` lets running jobs finish within `grace` seconds, then stops them and
  records them as interrupted.

Thread model: `due`, `start`, `poll`, `tick` and `request_stop` are called from one thread (the
keeper's loop); each run's work happens in its own worker thread, which only runs the job: the
ledger, the state and the metrics are written from the calling thread.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from clawkeeper.effects.fs import ensure_dir
from clawkeeper.effects.proc import pid_alive
from clawkeeper.errors import ExitCode
from clawkeeper.ledger import Ledger
from clawkeeper.monitor.model import MetricKind, MetricWriter, Sample, labels_of
from clawkeeper.monitor.schedule.jobs import Job, JobContext
from clawkeeper.monitor.schedule.locks import JobBusy, JobLock
from clawkeeper.monitor.schedule.runner import JobOutcome, JobResult, JobRunner
from clawkeeper.monitor.schedule.state import JobState, ScheduleState
from clawkeeper.monitor.settings import ScheduleSettings

CATCH_UP_AFTER_S = 60.0  # a run starting this long after its slot is a catch-up
REAP_POLL_S = 1.0  # how soon to look again while jobs run or wait for a free place
TERMINATE_WAIT_S = 15.0  # after the grace: time for stopped jobs to end and be recorded

LEDGER_OUTCOME = {
    JobOutcome.OK: "ok",
    JobOutcome.FAILED: "failed",
    JobOutcome.INTERRUPTED: "interrupted",
    JobOutcome.SKIPPED: "error",
}


def schedule_dir(db_path: Path) -> Path:
    """Where job locks and last-run logs live: next to the monitor database."""
    return db_path.parent / "schedule"


@dataclass(frozen=True)
class FinishedRun:
    job: str
    run_id: int
    outcome: JobOutcome
    exit_code: int
    error: str | None
    trigger: str
    slot: float | None
    started: float
    ended: float
    duration_s: float
    child_run_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "error": self.error,
            "trigger": self.trigger,
            "slot": self.slot,
            "started": self.started,
            "ended": self.ended,
            "duration_s": round(self.duration_s, 3),
            "child_run_id": self.child_run_id,
            "detail": self.detail,
        }


@dataclass
class _Run:
    job: Job
    run_id: int
    step_id: int
    lock: JobLock
    trigger: str
    slot: float | None
    started: float
    started_mono: float
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    result: JobResult | None = None
    child_pid: int | None = None
    cancelled: bool = False


class Scheduler:
    """See the module docstring. Also satisfies the keeper's `Schedule` protocol (`tick`,
    `next_due`, `request_stop`, `status`)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        settings: ScheduleSettings,
        db_path: Path,
        ledger_path: Path,
        clock: Callable[[], float],
        runner: JobRunner,
        *,
        metrics: MetricWriter | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self._jobs = list(jobs)
        self._by_name = {job.name: job for job in self._jobs}
        self._settings = settings
        self._clock = clock
        self._runner = runner
        self._metrics = metrics
        self._dir = ensure_dir(lock_dir or schedule_dir(db_path))
        self._state = ScheduleState.open(db_path)
        self._ledger = Ledger(ledger_path)
        self._running: dict[str, _Run] = {}
        self._guard = threading.Lock()  # `_running`, for status() from other threads
        self._stopping = False
        self._emitted: dict[str, tuple[object, ...]] = {}  # job -> the state its metrics show
        self._next: dict[str, tuple[float, float | None]] = {}  # job -> (handled_until, next fire)
        self.abandoned = self._state.reconcile(os.getpid())
        self._handled = self._bookmarks(self._state.load(), clock())

    # --- bookkeeping ---------------------------------------------------------------------------

    def _bookmarks(self, states: dict[str, JobState], now: float) -> dict[str, float]:
        handled: dict[str, float] = {}
        for job in self._jobs:
            if not job.enabled:
                continue
            known = states.get(job.name)
            mark = known.handled_until if known is not None else None
            if mark is None:
                # first sight of this job: its first run is at its next slot, not now
                mark = now
                self._state.set_handled(job.name, mark)
            elif not self._settings.catch_up:
                missed = job.schedule.next_after(mark)
                if missed is not None and missed <= now:
                    reason = (
                        f"missed while the keeper was down ({job.schedule.describe(missed)}); catch_up is off"
                    )
                    self._note_skip(job, now, reason)
                    mark = now
                    self._state.set_handled(job.name, mark)
            handled[job.name] = mark
        return handled

    def _advance(self, job: Job, now: float) -> None:
        self._handled[job.name] = now
        self._state.set_handled(job.name, now)

    def _next_fire(self, job: Job) -> float | None:
        mark = self._handled.get(job.name)
        if mark is None:
            return None
        cached = self._next.get(job.name)
        if cached is not None and cached[0] == mark:
            return cached[1]
        value = job.schedule.next_after(mark)
        self._next[job.name] = (mark, value)
        return value

    # --- what the keeper calls -----------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def running(self) -> list[str]:
        """Names of the jobs running in this process now."""
        with self._guard:
            return sorted(self._running)

    def due(self, now: float) -> list[Job]:
        """Enabled jobs with a slot at or before `now` not yet handled, earliest slot first."""
        if self._stopping:
            return []
        found: list[tuple[float, int, Job]] = []
        for index, job in enumerate(self._jobs):
            if not job.enabled:
                continue
            fire = self._next_fire(job)
            if fire is not None and fire <= now:
                found.append((fire, index, job))
        return [job for _fire, _index, job in sorted(found, key=lambda item: item[:2])]

    def next_runs(self) -> dict[str, float | None]:
        """The next slot of every enabled job (Unix seconds)."""
        return {job.name: self._next_fire(job) for job in self._jobs if job.enabled}

    def next_due(self, now: float) -> float | None:
        """When the keeper should call `tick` again (sooner while jobs run, to reap them)."""
        if self._stopping:
            return None
        candidates = [fire for fire in self.next_runs().values() if fire is not None]
        if self._running:
            candidates.append(now + REAP_POLL_S)
        if not candidates:
            return None
        soonest = min(candidates)
        # anything at or before now was handled by the last tick or waits for a free place
        return soonest if soonest > now else now + REAP_POLL_S

    def tick(self, now: float) -> None:
        """Reap finished runs, then start what is due."""
        self.poll()
        for job in self.due(now):
            self.start(job, now)

    def start(self, job: Job, now: float) -> int | None:
        """Start `job` for its due slot in a worker thread; returns its ledger run id.

        None when it did not start: it is still running (the slot is skipped and noted), another
        process holds its lock (skipped and recorded), the keeper is stopping, or `max_parallel`
        jobs already run (it stays due and starts when a place frees).
        """
        if self._stopping:
            return None
        slot = self._next_fire(job)
        current = self._running.get(job.name)
        if current is not None:
            when = job.schedule.describe(slot) if slot is not None else "its"
            reason = f"still running (since {job.schedule.describe(current.started)}) at its {when} slot"
            self._note_skip(job, now, reason, running=current, slot=slot)
            self._advance(job, now)
            return None
        if len(self._running) >= self._settings.max_parallel:
            return None
        try:
            run = self._start(job, now, slot=slot, manual=False)
        except JobBusy as busy:
            run_id = self._ledger.start_run(f"schedule {job.name}", self._run_args(job, "schedule", slot))
            self._ledger.finish_run(
                run_id, outcome="error", exit_code=int(ExitCode.CONFLICT), error=f"skipped: {busy.message}"
            )
            self._note_skip(job, now, busy.message, slot=slot)
            self._advance(job, now)
            return None
        return run.run_id

    def poll(self) -> list[FinishedRun]:
        """Record every run whose worker has finished; returns them."""
        with self._guard:
            done = [r for r in self._running.values() if r.thread is not None and not r.thread.is_alive()]
        finished = [self._finish(run, run.result or _lost()) for run in done]
        self._flush_metrics()
        return finished

    def request_stop(self, grace_s: float) -> None:
        """Start no more jobs; give running ones `grace_s` seconds, then stop them (interrupted).

        Returns when every run is recorded (at most `grace_s` + TERMINATE_WAIT_S seconds)."""
        self.drain(grace_s)

    def drain(self, grace_s: float) -> list[FinishedRun]:
        """`request_stop`, returning the runs that ended meanwhile."""
        self._stopping = True
        with self._guard:
            runs = list(self._running.values())
        deadline = time.monotonic() + max(0.0, grace_s)
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for run in runs:
            if run.thread is not None and run.thread.is_alive():
                run.cancelled = True
                run.cancel.set()
        deadline = time.monotonic() + TERMINATE_WAIT_S
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=max(0.0, deadline - time.monotonic()))
        finished = self.poll()
        with self._guard:
            stuck = list(self._running.values())
        for run in stuck:  # an in-process job that ignores its cancel event: record and leave it
            finished.append(
                self._finish(
                    run,
                    JobResult(
                        JobOutcome.INTERRUPTED,
                        int(ExitCode.INTERRUPTED),
                        error="still running when the keeper stopped; left behind",
                    ),
                )
            )
        self._flush_metrics()
        return finished

    def run_now(self, job: Job) -> FinishedRun:
        """Run `job` once in the foreground (`schedule run`): same lock, same records.

        Raises JobBusy when it is running elsewhere. Ctrl-C or SIGTERM (as an exception) stops
        the job, records it as interrupted and propagates.
        """
        run = self._start(job, self._clock(), slot=None, manual=True)
        thread = run.thread
        if thread is None:  # pragma: no cover - _start always sets it
            raise RuntimeError("job thread missing")
        try:
            while thread.is_alive():
                thread.join(timeout=0.5)
        except BaseException:
            run.cancelled = True
            run.cancel.set()
            thread.join(timeout=TERMINATE_WAIT_S)
            result = run.result if run.result is not None and not thread.is_alive() else None
            self._finish(
                run,
                result or JobResult(JobOutcome.INTERRUPTED, int(ExitCode.INTERRUPTED), error="interrupted"),
            )
            raise
        finished = self._finish(run, run.result or _lost())
        self._flush_metrics()
        return finished

    def status(self) -> list[dict[str, Any]]:
        """Every job with its schedule, state and last run (the live view, `schedule list`)."""
        states = self._state.load()
        with self._guard:
            running = {name: run.started for name, run in self._running.items()}
        return [
            describe_job(
                job,
                states.get(job.name),
                self._runner.describe(job),
                next_fire=self._next_fire(job) if job.enabled else None,
                running_since=running.get(job.name),
            )
            for job in self._jobs
        ]

    def close(self) -> None:
        self._state.close()
        self._ledger.close()

    # --- starting and finishing ------------------------------------------------------------

    def _run_args(self, job: Job, trigger: str, slot: float | None) -> dict[str, Any]:
        return {
            "job": job.name,
            "trigger": trigger,
            "slot": _iso(slot, job),
            "cron": job.cron,
            "timezone": job.timezone,
            "timeout_s": job.timeout_s,
        }

    def _start(self, job: Job, now: float, *, slot: float | None, manual: bool) -> _Run:
        if manual:
            trigger = "manual"
        elif slot is not None and now - slot > CATCH_UP_AFTER_S:
            trigger = "catch-up"
        else:
            trigger = "schedule"
        lock = JobLock(self._dir / f"{job.name}.lock", job.name)
        stale = lock.acquire(now=now)  # raises JobBusy
        try:
            args = self._run_args(job, trigger, slot)
            if trigger == "catch-up" and slot is not None:
                args["missed_slots"] = _count_slots(job, slot, now)
            run_id = self._ledger.start_run(f"schedule {job.name}", args)
            intent: dict[str, Any] = {"action": self._runner.describe(job)}
            if stale is not None:
                intent["took_over_stale_lock"] = stale.to_json()
            step_id = self._ledger.start_step(run_id, f"run {job.name}", intent)
            self._state.mark_started(
                job.name, start=now, slot=slot, trigger=trigger, run_id=run_id, pid=os.getpid()
            )
            if not manual:
                self._advance(job, now)
            run = _Run(
                job=job,
                run_id=run_id,
                step_id=step_id,
                lock=lock,
                trigger=trigger,
                slot=slot,
                started=now,
                started_mono=time.monotonic(),
            )
            ctx = JobContext(
                job=job.name,
                now=now,
                timeout_s=job.timeout_s,
                cancel=run.cancel,
                log_path=self._dir / f"{job.name}.log",
                on_spawn=partial(self._on_spawn, run),
            )
            run.thread = threading.Thread(
                target=self._work, args=(run, ctx), name=f"job-{job.name}", daemon=True
            )
            with self._guard:
                self._running[job.name] = run
            run.thread.start()
        except BaseException:
            with self._guard:
                self._running.pop(job.name, None)
            lock.release()
            raise
        return run

    def _work(self, run: _Run, ctx: JobContext) -> None:
        try:
            run.result = self._runner.run(run.job, ctx)
        except Exception as exc:  # noqa: BLE001 - a runner bug is this run's failure, not the keeper's
            run.result = JobResult(
                JobOutcome.FAILED, int(ExitCode.INTERNAL), error=f"{type(exc).__name__}: {exc}"
            )

    def _on_spawn(self, run: _Run, pid: int) -> None:
        run.child_pid = pid
        run.lock.note_child(pid)

    def _finish(self, run: _Run, result: JobResult) -> FinishedRun:
        job = run.job
        ended = self._clock()
        duration = time.monotonic() - run.started_mono
        outcome = result.outcome
        exit_code = 0 if outcome is JobOutcome.OK else (result.exit_code or int(ExitCode.FAILED))
        if outcome is JobOutcome.INTERRUPTED:
            exit_code = int(ExitCode.INTERRUPTED)
        child_run_id = result.child_run_id or self._child_run(run, result.child_pid or run.child_pid)
        detail = {**result.detail, "exit_code": exit_code, "child_run_id": child_run_id}
        if result.error:
            detail["error"] = result.error
        if result.timed_out:
            detail["timed_out"] = True
        try:
            self._ledger.finish_step(run.step_id, outcome=outcome.value, detail=detail)
            self._ledger.finish_run(
                run.run_id, outcome=LEDGER_OUTCOME[outcome], exit_code=exit_code, error=result.error
            )
            self._state.mark_finished(
                job.name,
                end=ended,
                outcome=outcome.value,
                exit_code=exit_code,
                error=result.error,
                duration=duration,
            )
            self._state.count(job.name, outcome.value)
        finally:
            run.lock.release()
            with self._guard:
                if self._running.get(job.name) is run:
                    del self._running[job.name]
        return FinishedRun(
            job=job.name,
            run_id=run.run_id,
            outcome=outcome,
            exit_code=exit_code,
            error=result.error,
            trigger=run.trigger,
            slot=run.slot,
            started=run.started,
            ended=ended,
            duration_s=duration,
            child_run_id=child_run_id,
            detail=detail,
        )

    def _child_run(self, run: _Run, child_pid: int | None) -> int | None:
        """The child's own ledger run: the newest run after ours recorded by the child's PID."""
        if child_pid is None:
            return None
        host = socket.gethostname()
        for record in self._ledger.recent_runs(limit=50):
            if record.id > run.run_id and record.pid == child_pid and record.host == host:
                return record.id
        return None

    def _note_skip(
        self,
        job: Job,
        now: float,
        reason: str,
        *,
        running: _Run | None = None,
        slot: float | None = None,
    ) -> None:
        self._state.mark_skipped(job.name, at=now, reason=reason)
        self._state.count(job.name, JobOutcome.SKIPPED.value)
        if running is not None:
            step = self._ledger.start_step(
                running.run_id, "skipped slot", {"slot": _iso(slot, job), "reason": reason}
            )
            self._ledger.finish_step(step, outcome="skipped", detail={"reason": reason})

    # --- metrics ---------------------------------------------------------------------------

    def _flush_metrics(self) -> None:
        """Write the `job_*` metrics of every job whose state changed since they were last written.

        Comparing with the stored state (rather than only reporting our own runs) also carries a
        manual `schedule run` in another process, and the history from before a restart, into the
        metrics, so `job_last_failed` clears when a user reruns a failed job by hand.
        """
        if self._metrics is None:
            return
        now = self._clock()
        samples: list[Sample] = []
        for name, state in self._state.load().items():
            job = self._by_name.get(name)
            if job is None:
                continue
            seen = (state.last_start, state.last_end, state.last_outcome, tuple(sorted(state.counts.items())))
            if self._emitted.get(name) != seen:
                samples.extend(self._run_samples(job, state, now))
                self._emitted[name] = seen
        if samples:
            self._metrics.write(samples)

    def _run_samples(self, job: Job, state: JobState | None, now: float) -> list[Sample]:
        if state is None:
            return []
        labels = labels_of(job=job.name)
        samples: list[Sample] = []
        if state.last_start is not None:
            samples.append(Sample("job_last_run_timestamp_seconds", state.last_start, now, labels))
        if state.last_success is not None:
            samples.append(Sample("job_last_success_timestamp_seconds", state.last_success, now, labels))
        if state.last_outcome not in (None, "running"):
            failed = state.last_outcome in ("failed", "abandoned")
            samples.append(Sample("job_last_failed", 1.0 if failed else 0.0, now, labels))
        if state.last_duration is not None:
            samples.append(Sample("job_duration_seconds", round(state.last_duration, 3), now, labels))
        samples.extend(self._count_samples(job.name, state, now))
        return samples

    @staticmethod
    def _count_samples(name: str, state: JobState | None, now: float) -> list[Sample]:
        if state is None:
            return []
        return [
            Sample(
                "job_runs_total", float(count), now, labels_of(job=name, outcome=outcome), MetricKind.COUNTER
            )
            for outcome, count in sorted(state.counts.items())
        ]


def _count_slots(job: Job, first: float, now: float, limit: int = 1000) -> int:
    """How many slots from `first` up to `now` (at most `limit`): what one catch-up run covers."""
    count, fire = 0, first
    while count < limit:
        count += 1
        following = job.schedule.next_after(fire)
        if following is None or following > now:
            break
        fire = following
    return count


def _lost() -> JobResult:
    return JobResult(
        JobOutcome.FAILED, int(ExitCode.INTERNAL), error="the job's worker ended without a result"
    )


def _iso(ts: float | None, job: Job) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, job.schedule.tz).isoformat(timespec="seconds")


def describe_job(
    job: Job,
    state: JobState | None,
    action: list[str],
    *,
    next_fire: float | None,
    running_since: float | None = None,
) -> dict[str, Any]:
    """One job as `schedule list --json` and the live view show it."""
    if (
        state is not None
        and state.running_since is not None
        and state.running_host == socket.gethostname()
        and state.running_pid is not None
        and state.running_pid != os.getpid()
        and not pid_alive(state.running_pid)
    ):
        # the process running it is gone (killed): the keeper marks it so at its next start
        state = replace(state, running_since=None, running_pid=None, last_outcome="abandoned")
    last: dict[str, Any] | None = None
    if state is not None and state.last_start is not None:
        last = {
            "run_id": state.last_run_id,
            "trigger": state.last_trigger,
            "slot": _iso(state.last_slot, job),
            "started_at": _iso(state.last_start, job),
            "ended_at": _iso(state.last_end, job),
            "outcome": state.last_outcome,
            "exit_code": state.last_exit_code,
            "error": state.last_error,
            "duration_s": None if state.last_duration is None else round(state.last_duration, 3),
        }
    if running_since is None and state is not None and state.running_since is not None:
        running_since = state.running_since  # a manual run in another process
    return {
        "job": job.name,
        "description": job.spec.description,
        "capability": job.spec.capability,
        "cron": job.cron,
        "timezone": job.timezone,
        "enabled": job.enabled,
        "available": job.available,
        "why_not": job.why_not,
        "timeout_s": job.timeout_s,
        "action": action,
        "next_run": _iso(next_fire, job),
        "next_run_ts": next_fire,
        "running": running_since is not None,
        "running_since": _iso(running_since, job),
        "running_pid": state.running_pid if state is not None else None,
        "last_run": last,
        "last_success": _iso(state.last_success, job) if state is not None else None,
        "skips": state.skips if state is not None else 0,
        "last_skip": (
            {"at": _iso(state.last_skip, job), "reason": state.last_skip_reason}
            if state is not None and state.last_skip is not None
            else None
        ),
        "runs": dict(state.counts) if state is not None else {},
    }


def preview(
    jobs: Sequence[Job], states: dict[str, JobState], runner: JobRunner, now: float, *, catch_up: bool
) -> list[dict[str, Any]]:
    """`describe_job` for every job without a scheduler (the CLI, while or without a keeper)."""
    out = []
    for job in jobs:
        state = states.get(job.name)
        fire: float | None = None
        if job.enabled:
            mark = state.handled_until if state is not None and state.handled_until is not None else now
            fire = job.schedule.next_after(mark)
            if fire is not None and fire <= now:
                # missed while no keeper ran: the next keeper runs it at once, or passes it over
                fire = now if catch_up else job.schedule.next_after(now)
        out.append(describe_job(job, state, runner.describe(job), next_fire=fire))
    return out
