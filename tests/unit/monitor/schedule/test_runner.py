"""The subprocess path: real child processes, time limits, drain, and the child's ledger run."""

from __future__ import annotations

import sys
from pathlib import Path

from clawkeeper.effects.proc import pid_alive
from clawkeeper.monitor.schedule.jobs import CallAction, JobContext, JobFailed
from clawkeeper.monitor.schedule.runner import JobOutcome, ProcessRunner

from .conftest import Env, at, jobs_of, spec


def fake_python(tmp: Path, body: str) -> str:
    """A stand-in for the interpreter: the runner calls it as `<it> -m clawkeeper ...`."""
    script = tmp / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_job_past_its_time_limit_is_killed_and_fails(env: Env) -> None:
    runner = ProcessRunner(None, python=fake_python(env.tmp, "exec sleep 30"))
    jobs = jobs_of(spec("slow", timeout_s=0.5))
    scheduler = env.scheduler(jobs, runner=runner)
    finished = scheduler.run_now(jobs[0])
    assert finished.outcome is JobOutcome.FAILED and finished.exit_code == 9
    assert finished.detail["timed_out"] is True
    assert "did not finish within 0.5s" in (finished.error or "")
    assert not pid_alive(finished.detail["pid"])
    run = env.runs("schedule slow")[0]
    assert (run.outcome, run.exit_code) == ("failed", 9)
    assert env.metrics.last("job_last_failed", job="slow") == 1.0


def test_the_drain_stops_a_running_child_and_records_interrupted(env: Env) -> None:
    runner = ProcessRunner(None, python=fake_python(env.tmp, "exec sleep 30"))
    jobs = jobs_of(spec("slow", "0 3 * * *", timeout_s=60.0))
    scheduler = env.scheduler(jobs, runner=runner)
    env.clock.now = at(2025, 6, 2, 3, 0)
    scheduler.tick(env.clock.now)
    (finished,) = scheduler.drain(0.2)
    assert finished.outcome is JobOutcome.INTERRUPTED and finished.exit_code == 130
    assert not pid_alive(finished.detail["pid"])
    run = env.runs("schedule slow")[0]
    assert (run.outcome, run.exit_code) == ("interrupted", 130)
    assert run.steps[0].outcome == "interrupted"


def test_a_failing_child_reports_its_own_error_line_and_exit_code(env: Env) -> None:
    body = (
        'echo "some progress"\n'
        'echo "clawkeeper: error: pack 1a2b is damaged — run backup verify" >&2\n'
        "exit 13"
    )
    runner = ProcessRunner(None, python=fake_python(env.tmp, body))
    jobs = jobs_of(spec("verify-backup"))
    finished = env.scheduler(jobs, runner=runner).run_now(jobs[0])
    assert finished.outcome is JobOutcome.FAILED and finished.exit_code == 13
    assert finished.error == "clawkeeper: error: pack 1a2b is damaged — run backup verify"
    log = Path(finished.detail["log"])
    assert "some progress" in log.read_text()


def test_the_child_gets_the_keepers_config_file(env: Env) -> None:
    runner = ProcessRunner(env.tmp / "clawkeeper.toml", python="/opt/py/bin/python")
    jobs = jobs_of(spec("nightly"))
    assert runner.describe(jobs[0]) == [
        "/opt/py/bin/python",
        "-m",
        "clawkeeper",
        "--config",
        str(env.tmp / "clawkeeper.toml"),
        "history",
        "--json",
    ]


def test_in_process_jobs_run_their_function_and_report_failures(env: Env) -> None:
    seen: list[float] = []

    def works(ctx: JobContext) -> dict[str, object]:
        seen.append(ctx.now)
        return {"refreshed": True}

    def fails(ctx: JobContext) -> dict[str, object]:
        raise JobFailed("registry unreachable: timed out", hint="check the network")

    jobs = jobs_of(
        spec("good", action=CallAction(works, label="in-process: works")),
        spec("bad", action=CallAction(fails, label="in-process: fails")),
    )
    scheduler = env.scheduler(jobs, runner=ProcessRunner(None))
    good = scheduler.run_now(jobs[0])
    assert good.outcome is JobOutcome.OK and good.detail["refreshed"] is True and seen == [env.clock.now]
    bad = scheduler.run_now(jobs[1])
    assert (bad.outcome, bad.exit_code) == (JobOutcome.FAILED, 1)
    assert bad.error == "registry unreachable: timed out — check the network"
    assert scheduler.status()[1]["action"] == ["in-process: fails"]


def test_end_to_end_a_real_clawkeeper_subprocess_is_run_and_linked(env: Env) -> None:
    config = env.tmp / "clawkeeper.toml"
    config.write_text(f'[ledger]\npath = "{env.ledger_path}"\n')
    runner = ProcessRunner(config, python=sys.executable)
    jobs = jobs_of(spec("history", timeout_s=120.0))  # `clawkeeper history --json`: harmless
    scheduler = env.scheduler(jobs, runner=runner)
    finished = scheduler.run_now(jobs[0])
    assert finished.outcome is JobOutcome.OK, finished.error
    assert finished.detail["output"]["kind"] == "history"
    child = next(r for r in env.runs() if r.command == "history")
    assert finished.child_run_id == child.id and child.pid == finished.detail["pid"]
    parent = env.runs("schedule history")[0]
    assert parent.outcome == "ok" and parent.steps[0].detail["child_run_id"] == child.id
    assert parent.args["trigger"] == "manual"
