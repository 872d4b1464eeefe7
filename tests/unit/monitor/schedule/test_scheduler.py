"""The scheduler: slots in a time zone, catch-up once, no overlap in or across processes, records."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime

import pytest

from clawkeeper.monitor.schedule.locks import JobBusy, process_start_time
from clawkeeper.monitor.schedule.runner import JobOutcome, JobResult
from clawkeeper.monitor.schedule.scheduler import Scheduler
from clawkeeper.monitor.schedule.state import ScheduleState

from .conftest import BERLIN, Env, ListMetrics, at, jobs_of, run_day, schedule_settings, spec, wait_idle


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, BERLIN)


# --- slots and DST ---------------------------------------------------------------------------


def test_a_daily_job_runs_once_a_day_at_its_local_time(env: Env) -> None:
    scheduler = env.scheduler(jobs_of(spec("nightly", "15 3 * * *")))
    run_day(scheduler, env.clock, until=at(2025, 6, 4, 12, 0))
    starts = [local(ts) for _, ts in env.runner.calls]
    assert [(s.day, s.hour, s.minute) for s in starts] == [(2, 3, 15), (3, 3, 15), (4, 3, 15)]


def test_spring_forward_runs_a_skipped_time_once_at_the_first_minute_that_exists(env: Env) -> None:
    # Europe/Berlin 2025-03-30: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day
    env.clock.now = at(2025, 3, 29, 12, 0)
    scheduler = env.scheduler(jobs_of(spec("nightly", "30 2 * * *")))
    run_day(scheduler, env.clock, until=at(2025, 3, 31, 12, 0), step_s=60.0)
    starts = [local(ts) for _, ts in env.runner.calls]
    assert [(s.day, s.hour, s.minute) for s in starts] == [(30, 3, 0), (31, 2, 30)]


def test_fall_back_runs_a_repeated_time_once(env: Env) -> None:
    # Europe/Berlin 2025-10-26: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice
    env.clock.now = at(2025, 10, 25, 12, 0)
    scheduler = env.scheduler(jobs_of(spec("nightly", "30 2 * * *")))
    run_day(scheduler, env.clock, until=at(2025, 10, 27, 12, 0), step_s=60.0)
    starts = [local(ts) for _, ts in env.runner.calls]
    assert [(s.day, s.hour, s.minute, s.utcoffset()) for s in starts] == [
        (26, 2, 30, local(at(2025, 10, 26, 2, 30, fold=0)).utcoffset()),  # the first 02:30 (CEST)
        (27, 2, 30, local(at(2025, 10, 27, 2, 30)).utcoffset()),
    ]


def test_interval_jobs_follow_real_time_across_fall_back(env: Env) -> None:
    env.clock.now = at(2025, 10, 26, 0, 50)
    scheduler = env.scheduler(jobs_of(spec("hourly", "0 * * * *")))
    run_day(scheduler, env.clock, until=at(2025, 10, 26, 4, 10), step_s=60.0)
    # 01:00, 02:00 CEST, 02:00 CET, 03:00, 04:00: five real hours, five runs
    assert len(env.runner.calls) == 5


def test_the_first_start_waits_for_the_next_slot(env: Env) -> None:
    scheduler = env.scheduler(jobs_of(spec("nightly", "0 3 * * *")))
    assert scheduler.due(env.clock.now) == []
    assert scheduler.next_runs()["nightly"] == at(2025, 6, 2, 3, 0)


# --- catch-up --------------------------------------------------------------------------------


def test_missed_slots_are_caught_up_once_after_downtime(env: Env) -> None:
    jobs = jobs_of(spec("nightly", "0 3 * * *"))
    first = env.scheduler(jobs)
    first.close()
    env.made.remove(first)
    env.clock.now = at(2025, 6, 5, 9, 0)  # down for four nights
    second = env.scheduler(jobs)
    due = second.due(env.clock.now)
    assert [j.name for j in due] == ["nightly"]
    assert second.start(due[0], env.clock.now) is not None
    wait_idle(second)
    assert second.due(env.clock.now) == []
    run_day(second, env.clock, until=at(2025, 6, 5, 23, 0))
    assert len(env.runner.calls) == 1
    (run,) = env.runs("schedule nightly")
    assert run.args["trigger"] == "catch-up"
    assert run.args["slot"] == "2025-06-02T03:00:00+02:00"  # the first slot it missed
    assert run.args["missed_slots"] == 4
    assert second.next_runs()["nightly"] == at(2025, 6, 6, 3, 0)


def test_without_catch_up_missed_slots_are_passed_over_and_noted(env: Env) -> None:
    settings = schedule_settings(catch_up=False)
    jobs = jobs_of(spec("nightly", "0 3 * * *"), settings=settings)
    env.scheduler(jobs, settings).close()
    env.made.clear()
    env.clock.now = at(2025, 6, 5, 9, 0)
    second = env.scheduler(jobs, settings)
    assert second.due(env.clock.now) == []
    state = second.status()[0]
    assert state["last_skip"]["reason"].startswith("missed while the keeper was down")
    assert env.metrics.last("job_runs_total", job="nightly", outcome="skipped") is None  # not yet flushed
    second.poll()
    assert env.metrics.last("job_runs_total", job="nightly", outcome="skipped") == 1.0


# --- never two at once -------------------------------------------------------------------------


def test_a_job_still_running_at_its_next_slot_skips_it_and_says_so(env: Env) -> None:
    env.runner.blocking.add("often")
    scheduler = env.scheduler(jobs_of(spec("often", "*/10 * * * *")))
    env.clock.now = at(2025, 6, 1, 12, 10)
    scheduler.tick(env.clock.now)
    assert env.runner.started.wait(5)
    env.clock.now = at(2025, 6, 1, 12, 20)
    scheduler.tick(env.clock.now)
    assert scheduler.running() == ["often"]
    assert len(env.runner.calls) == 1
    env.runner.release.set()
    wait_idle(scheduler)
    (run,) = env.runs("schedule often")
    assert run.outcome == "ok"
    skipped = [s for s in run.steps if s.name == "skipped slot"]
    assert len(skipped) == 1 and skipped[0].intent["slot"] == "2025-06-01T12:20:00+02:00"
    assert "still running" in skipped[0].detail["reason"]
    status = scheduler.status()[0]
    assert status["skips"] == 1 and status["runs"] == {"ok": 1, "skipped": 1}
    assert env.metrics.last("job_runs_total", job="often", outcome="skipped") == 1.0
    assert scheduler.due(env.clock.now) == []  # the skipped slot is not run late


def test_two_schedulers_never_run_one_job_together(env: Env) -> None:
    env.runner.blocking.add("nightly")
    jobs = jobs_of(spec("nightly", "0 3 * * *"))
    locks = env.tmp / "locks"
    one = env.scheduler(jobs, db=env.tmp / "a" / "monitor.sqlite", lock_dir=locks)
    two = env.scheduler(jobs, db=env.tmp / "b" / "monitor.sqlite", lock_dir=locks)
    env.clock.now = at(2025, 6, 2, 3, 0)
    one.tick(env.clock.now)
    assert env.runner.started.wait(5)
    two.tick(env.clock.now)
    assert one.running() == ["nightly"] and two.running() == []
    with pytest.raises(JobBusy, match="already running"):
        two.run_now(jobs[0])
    env.runner.release.set()
    wait_idle(one)
    runs = env.runs("schedule nightly")
    outcomes = sorted((r.outcome, r.exit_code) for r in runs)
    assert outcomes == [("error", 8), ("ok", 0)]
    skipped = next(r for r in runs if r.outcome == "error")
    assert skipped.error is not None and skipped.error.startswith("skipped: job nightly is already running")
    assert len(env.runner.calls) == 1
    # once the first is done the lock is free again
    assert two.run_now(jobs[0]).outcome is JobOutcome.OK


def test_a_stale_lock_from_a_dead_process_is_taken_over(env: Env) -> None:
    locks = env.tmp / "locks"
    locks.mkdir()
    dead = {"job": "nightly", "pid": 2**22 + 12345, "host": "h", "since": 1.0, "child_pid": 2**22 + 12346}
    (locks / "nightly.lock").write_text(json.dumps(dead))
    jobs = jobs_of(spec("nightly"))
    scheduler = env.scheduler(jobs, lock_dir=locks)
    finished = scheduler.run_now(jobs[0])
    assert finished.outcome is JobOutcome.OK
    (run,) = env.runs("schedule nightly")
    assert run.steps[0].intent["took_over_stale_lock"]["pid"] == dead["pid"]
    assert (locks / "nightly.lock").read_text() == ""  # released clean


def test_a_child_left_running_by_a_killed_keeper_keeps_the_job_locked(env: Env) -> None:
    locks = env.tmp / "locks"
    locks.mkdir()
    # the keeper is gone, but "its child" (this test process) still runs
    orphan = {
        "job": "nightly",
        "pid": 2**22 + 12345,
        "host": "h",
        "since": 1.0,
        "child_pid": os.getpid(),
        "child_start": process_start_time(os.getpid()),
    }
    (locks / "nightly.lock").write_text(json.dumps(orphan))
    jobs = jobs_of(spec("nightly"))
    scheduler = env.scheduler(jobs, lock_dir=locks)
    with pytest.raises(JobBusy, match="still running from an earlier keeper"):
        scheduler.run_now(jobs[0])
    # the same PID with another start time is a reused PID, not the child
    orphan["child_start"] = (orphan["child_start"] or 0) + 1  # type: ignore[operator]
    (locks / "nightly.lock").write_text(json.dumps(orphan))
    assert scheduler.run_now(jobs[0]).outcome is JobOutcome.OK


def test_max_parallel_makes_a_due_job_wait_for_a_free_place(env: Env) -> None:
    env.runner.blocking.update({"a", "b"})
    settings = schedule_settings(max_parallel=1)
    jobs = jobs_of(spec("a", "0 3 * * *"), spec("b", "0 3 * * *"), settings=settings)
    scheduler = env.scheduler(jobs, settings)
    env.clock.now = at(2025, 6, 2, 3, 0)
    scheduler.tick(env.clock.now)
    assert scheduler.running() == ["a"]
    assert [j.name for j in scheduler.due(env.clock.now)] == ["b"]
    assert scheduler.next_due(env.clock.now) == env.clock.now + 1.0  # poll soon, don't spin
    env.runner.release.set()
    wait_idle(scheduler)
    scheduler.tick(env.clock.now)
    wait_idle(scheduler)
    assert [name for name, _ in env.runner.calls] == ["a", "b"]


# --- records ---------------------------------------------------------------------------------


def test_each_run_is_a_ledger_run_with_its_step_linked_to_the_child_run(env: Env) -> None:
    env.runner.results["nightly"] = JobResult(JobOutcome.OK, 0, detail={"kind": "x"}, child_run_id=4242)
    scheduler = env.scheduler(jobs_of(spec("nightly", "0 3 * * *")))
    run_day(scheduler, env.clock, until=at(2025, 6, 2, 4, 0))
    (run,) = env.runs("schedule nightly")
    assert run.outcome == "ok" and run.exit_code == 0
    assert run.args["trigger"] == "schedule" and run.args["timezone"] == "Europe/Berlin"
    (step,) = run.steps
    assert step.name == "run nightly" and step.outcome == "ok"
    assert step.intent["action"] == ["fake", "nightly"]
    assert step.detail["child_run_id"] == 4242 and step.detail["kind"] == "x"
    assert env.metrics.last("job_last_failed", job="nightly") == 0.0
    assert env.metrics.last("job_last_run_timestamp_seconds", job="nightly") == at(2025, 6, 2, 3, 0)
    assert env.metrics.last("job_last_success_timestamp_seconds", job="nightly") is not None
    assert env.metrics.last("job_duration_seconds", job="nightly") is not None
    assert env.metrics.last("job_runs_total", job="nightly", outcome="ok") == 1.0


def test_a_failed_run_sets_job_last_failed_and_keeps_its_error(env: Env) -> None:
    env.runner.results["nightly"] = JobResult(JobOutcome.FAILED, 13, error="clawkeeper: error: pack damaged")
    scheduler = env.scheduler(jobs_of(spec("nightly", "0 3 * * *")))
    run_day(scheduler, env.clock, until=at(2025, 6, 2, 4, 0))
    (run,) = env.runs("schedule nightly")
    assert (run.outcome, run.exit_code, run.error) == ("failed", 13, "clawkeeper: error: pack damaged")
    assert env.metrics.last("job_last_failed", job="nightly") == 1.0
    assert env.metrics.last("job_last_success_timestamp_seconds", job="nightly") is None
    last = scheduler.status()[0]["last_run"]
    assert last["outcome"] == "failed" and last["exit_code"] == 13


def test_metrics_from_before_a_restart_are_written_again_on_the_first_poll(env: Env) -> None:
    env.runner.results["nightly"] = JobResult(JobOutcome.FAILED, 1, error="boom")
    jobs = jobs_of(spec("nightly", "0 3 * * *"))
    first = env.scheduler(jobs)
    run_day(first, env.clock, until=at(2025, 6, 2, 4, 0))
    env.metrics.samples.clear()
    second = env.scheduler(jobs)
    second.poll()
    assert env.metrics.last("job_last_failed", job="nightly") == 1.0  # the alert survives a restart
    assert env.metrics.last("job_runs_total", job="nightly", outcome="failed") == 1.0


def test_a_run_left_running_by_a_dead_keeper_is_marked_abandoned(env: Env) -> None:
    jobs = jobs_of(spec("nightly"))
    env.db.parent.mkdir(parents=True)
    state = ScheduleState.open(env.db)
    state.mark_started("nightly", start=1.0, slot=None, trigger="schedule", run_id=1, pid=2**22 + 7)
    state.close()
    scheduler = env.scheduler(jobs)
    assert scheduler.abandoned == ["nightly"]
    status = scheduler.status()[0]
    assert status["running"] is False and status["last_run"]["outcome"] == "abandoned"


def test_a_runner_that_raises_fails_the_run_not_the_scheduler(env: Env) -> None:
    class Broken:
        def describe(self, job: object) -> list[str]:
            return ["broken"]

        def run(self, job: object, ctx: object) -> JobResult:
            raise RuntimeError("bug in a runner")

    jobs = jobs_of(spec("nightly"))
    scheduler = env.scheduler(jobs, runner=Broken())
    finished = scheduler.run_now(jobs[0])
    assert finished.outcome is JobOutcome.FAILED and finished.exit_code == 70
    assert finished.error == "RuntimeError: bug in a runner"


# --- shutdown --------------------------------------------------------------------------------


def test_request_stop_lets_quick_jobs_finish_and_interrupts_the_rest(env: Env) -> None:
    env.runner.blocking.add("slow")
    jobs = jobs_of(spec("slow", "0 3 * * *"), spec("quick", "0 3 * * *"))
    scheduler = env.scheduler(jobs)
    env.clock.now = at(2025, 6, 2, 3, 0)
    scheduler.tick(env.clock.now)
    finished = scheduler.drain(0.2)
    assert sorted((f.job, f.outcome.value, f.exit_code) for f in finished) == [
        ("quick", "ok", 0),
        ("slow", "interrupted", 130),
    ]
    slow = env.runs("schedule slow")[0]
    assert slow.outcome == "interrupted" and slow.exit_code == 130
    assert scheduler.running() == []
    assert scheduler.due(at(2025, 6, 9, 3, 0)) == []  # stopping: nothing new starts
    assert scheduler.start(jobs[1], at(2025, 6, 9, 3, 0)) is None
    assert env.metrics.last("job_last_failed", job="slow") == 0.0  # interrupted is not a failure


def test_a_manual_rerun_in_another_process_clears_job_last_failed_in_the_keeper(env: Env) -> None:
    env.runner.results["nightly"] = JobResult(JobOutcome.FAILED, 1, error="boom")
    jobs = jobs_of(spec("nightly", "0 3 * * *"))
    keeper = env.scheduler(jobs)
    run_day(keeper, env.clock, until=at(2025, 6, 2, 4, 0))
    assert env.metrics.last("job_last_failed", job="nightly") == 1.0
    del env.runner.results["nightly"]
    manual = Scheduler(jobs, schedule_settings(), env.db, env.ledger_path, env.clock, env.runner)
    assert manual.run_now(jobs[0]).outcome is JobOutcome.OK
    manual.close()
    keeper.poll()
    assert env.metrics.last("job_last_failed", job="nightly") == 0.0
    assert keeper.status()[0]["last_run"]["trigger"] == "manual"


def test_the_keeper_loop_drives_the_scheduler_through_its_schedule_protocol(env: Env) -> None:
    from clawkeeper.monitor.daemon import Keeper

    class Store(ListMetrics):
        def maintain(self, now: float) -> object:
            return None

    store = Store()
    env.runner.blocking.add("slow")
    jobs = jobs_of(spec("nightly", "0 3 * * *"), spec("slow", "0 3 * * *"))
    scheduler = Scheduler(
        jobs, schedule_settings(), env.db, env.ledger_path, env.clock, env.runner, metrics=store
    )
    env.made.append(scheduler)
    keeper = Keeper(
        store=store,  # type: ignore[arg-type]
        collectors=[],
        evaluator=None,
        notifications=None,
        schedule=scheduler,
        interval_s=10.0,
        drain_grace_s=0.2,
        clock=env.clock,
    )
    env.clock.now = at(2025, 6, 2, 3, 0)
    keeper.tick()
    assert sorted(scheduler.running()) == ["nightly", "slow"] or scheduler.running() == ["slow"]
    for _ in range(500):  # bounded: until the quick job is reaped by a tick
        keeper.tick()
        if scheduler.running() == ["slow"]:
            break
        time.sleep(0.01)
    assert store.last("job_last_failed", job="nightly") == 0.0
    jobs_view = {j["job"]: j for j in keeper.snapshot().jobs}
    assert jobs_view["slow"]["running"] is True and jobs_view["nightly"]["last_run"]["outcome"] == "ok"
    keeper.request_stop()
    keeper.run()
    assert env.runs("schedule slow")[0].outcome == "interrupted"
