"""Fakes for the scheduler: a clock you move by hand, a runner you script, metrics in a list."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clawkeeper.ledger import Ledger, RunRecord
from clawkeeper.monitor.model import Sample
from clawkeeper.monitor.schedule.jobs import CliAction, Job, JobContext, JobSpec, resolve_jobs
from clawkeeper.monitor.schedule.runner import JobOutcome, JobResult
from clawkeeper.monitor.schedule.scheduler import Scheduler
from clawkeeper.monitor.settings import ScheduleSettings

BERLIN = ZoneInfo("Europe/Berlin")


def at(*parts: int, tz: ZoneInfo = BERLIN, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=tz, fold=fold).timestamp()  # type: ignore[misc]


@dataclass
class FakeClock:
    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class FakeRunner:
    """Returns `results[job]` (default ok); jobs in `blocking` wait until released or cancelled."""

    results: dict[str, JobResult] = field(default_factory=dict)
    blocking: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    calls: list[tuple[str, float]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    def describe(self, job: Job) -> list[str]:
        return ["fake", job.name]

    def run(self, job: Job, ctx: JobContext) -> JobResult:
        self.calls.append((job.name, ctx.now))
        self.started.set()
        if job.name in self.blocking:
            for _ in range(2000):  # bounded: 20 s at most
                if self.release.is_set():
                    break
                if ctx.cancel.is_set():
                    return JobResult(JobOutcome.INTERRUPTED, 130, error="cancelled")
                time.sleep(0.01)
        return self.results.get(job.name, JobResult(JobOutcome.OK, 0))


@dataclass
class ListMetrics:
    samples: list[Sample] = field(default_factory=list)

    def write(self, samples: Iterable[Sample]) -> int:
        batch = list(samples)
        self.samples.extend(batch)
        return len(batch)

    def mark_stale(self, source: str, names: Sequence[str], ts: float, reason: str) -> None:
        raise AssertionError("the scheduler never marks metrics stale")

    def last(self, name: str, **labels: str) -> float | None:
        found = [s.value for s in self.samples if s.name == name and s.label_map == labels]
        return found[-1] if found else None


def spec(name: str, cron: str = "0 3 * * *", **extra: object) -> JobSpec:
    fields: dict[str, object] = {
        "name": name,
        "description": f"test job {name}",
        "cron": cron,
        "capability": "test",
        "timeout_s": 60.0,
        "action": CliAction(("history", "--json")),
    }
    fields.update(extra)
    return JobSpec(**fields)  # type: ignore[arg-type]


def schedule_settings(**extra: object) -> ScheduleSettings:
    values: dict[str, object] = {"timezone": "Europe/Berlin"}
    values.update(extra)
    return ScheduleSettings.model_validate(values)


def jobs_of(*specs: JobSpec, settings: ScheduleSettings | None = None) -> list[Job]:
    return resolve_jobs(specs, settings or schedule_settings())


@dataclass
class Env:
    tmp: Path
    clock: FakeClock
    runner: FakeRunner
    metrics: ListMetrics
    made: list[Scheduler] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.tmp / "state" / "monitor.sqlite"

    @property
    def ledger_path(self) -> Path:
        return self.tmp / "ledger.sqlite"

    def scheduler(
        self,
        jobs: Sequence[Job],
        settings: ScheduleSettings | None = None,
        *,
        runner: object | None = None,
        db: Path | None = None,
        lock_dir: Path | None = None,
    ) -> Scheduler:
        made = Scheduler(
            jobs,
            settings or schedule_settings(),
            db or self.db,
            self.ledger_path,
            self.clock,
            runner or self.runner,  # type: ignore[arg-type]
            metrics=self.metrics,
            lock_dir=lock_dir,
        )
        self.made.append(made)
        return made

    def runs(self, command: str | None = None) -> list[RunRecord]:
        with Ledger(self.ledger_path) as ledger:
            return [ledger.get_run(r.id) for r in ledger.recent_runs(limit=1000, command=command)]


def wait_idle(scheduler: Scheduler, *, limit_s: float = 20.0) -> list[object]:
    """Poll until no job runs (bounded); returns what finished."""
    finished: list[object] = []
    deadline = time.monotonic() + limit_s
    while True:
        finished.extend(scheduler.poll())
        if not scheduler.running():
            return finished
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still running: {scheduler.running()}")
        time.sleep(0.01)


def run_day(
    scheduler: Scheduler,
    clock: FakeClock,
    *,
    until: float,
    step_s: float = 300.0,
    on_tick: Callable[[float], None] | None = None,
) -> None:
    """Move the clock to `until` in steps, ticking the scheduler and letting each job finish."""
    while clock.now < until:
        clock.advance(step_s)
        scheduler.tick(clock.now)
        wait_idle(scheduler)
        if on_tick is not None:
            on_tick(clock.now)


@pytest.fixture
def env(tmp_path: Path) -> Iterable[Env]:
    made = Env(tmp_path, FakeClock(at(2025, 6, 1, 12, 0)), FakeRunner(), ListMetrics())
    yield made
    made.runner.release.set()
    for scheduler in made.made:
        if scheduler.running():
            scheduler.request_stop(0.0)
        scheduler.close()
