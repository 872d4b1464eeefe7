"""`clawkeeper schedule`: the keeper's maintenance jobs — what runs when, and running one now."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from clawkeeper.cli.context import app_context, recorded
from clawkeeper.cli.render import console, emit_json
from clawkeeper.errors import ConfigError, NotFound, UsageError
from clawkeeper.monitor.schedule.build import build_jobs
from clawkeeper.monitor.schedule.jobs import Job
from clawkeeper.monitor.schedule.runner import JobOutcome, ProcessRunner
from clawkeeper.monitor.schedule.scheduler import Scheduler, preview, schedule_dir
from clawkeeper.monitor.schedule.state import ScheduleState

app = typer.Typer(help="The keeper's maintenance schedule: list the jobs, run one now.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]

OUTCOME_STYLE = {
    "ok": "green",
    "failed": "red",
    "interrupted": "yellow",
    "abandoned": "yellow",
    "running": "cyan",
}


@app.command("list")
def list_jobs(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the jobs: schedule, time zone, next and last run, and why a job is disabled."""
    with recorded(ctx, "schedule list", {"json": as_json}) as app_ctx:
        settings = app_ctx.settings
        jobs = build_jobs(settings)
        state = ScheduleState.open_readonly(settings.monitor.store.path)
        try:
            states = state.load() if state is not None else {}
        finally:
            if state is not None:
                state.close()
        runner = ProcessRunner(app_ctx.loaded.path)
        rows = preview(jobs, states, runner, time.time(), catch_up=settings.monitor.schedule.catch_up)
        timezone = jobs[0].timezone if jobs else "UTC"
        if as_json:
            emit_json(
                "schedule.list",
                {"timezone": timezone, "catch_up": settings.monitor.schedule.catch_up, "jobs": rows},
            )
            return
        _print_table(rows, timezone)


@app.command("run")
def run_job(
    ctx: typer.Context,
    job_name: Annotated[str, typer.Argument(metavar="JOB", help="The job to run (see `schedule list`).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would run; run nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run one job now, in the foreground: same lock as the keeper, recorded in the ledger.

    Exits with the job's exit code (0 when it succeeded); 8 when it is already running.
    """
    app_ctx = app_context(ctx)
    settings = app_ctx.settings
    jobs = build_jobs(settings)
    job = _find(jobs, job_name)
    runner = ProcessRunner(app_ctx.loaded.path)
    if dry_run:
        lock = schedule_dir(settings.monitor.store.path) / f"{job.name}.lock"
        plan: dict[str, object] = {
            "job": job.name,
            "action": runner.describe(job),
            "timeout_s": job.timeout_s,
            "lock": str(lock),
        }
        if as_json:
            emit_json("schedule.run", {"dry_run": True, **plan})
        else:
            console.print(f"would run job [bold]{job.name}[/] ({job.spec.description})")
            console.print(f"  {' '.join(runner.describe(job))}", markup=False)
            console.print(f"  time limit {_duration(job.timeout_s)}, holding {lock}")
        return
    scheduler = Scheduler(
        jobs,
        settings.monitor.schedule,
        settings.monitor.store.path,
        settings.ledger.path,
        time.time,
        runner,
    )
    try:
        if not as_json:
            console.print(f"running job [bold]{job.name}[/]: {' '.join(runner.describe(job))}")
        finished = scheduler.run_now(job)
    finally:
        scheduler.close()
    if as_json:
        emit_json("schedule.run", {"dry_run": False, **finished.to_json()})
    else:
        style = OUTCOME_STYLE.get(finished.outcome.value, "white")
        linked = f", its own run {finished.child_run_id}" if finished.child_run_id else ""
        console.print(
            f"[{style}]{finished.outcome.value}[/] in {_duration(finished.duration_s)} "
            f"(ledger run {finished.run_id}{linked}; `clawkeeper history --run {finished.run_id}`)"
        )
        if finished.error:
            console.print(f"  {finished.error}")
        log = finished.detail.get("log")
        if log and finished.outcome is not JobOutcome.OK:
            console.print(f"  output: {log}")
    if finished.exit_code:
        raise typer.Exit(finished.exit_code)


def _find(jobs: list[Job], name: str) -> Job:
    for job in jobs:
        if job.name == name:
            if not job.available:
                raise UsageError(f"job {name} is {job.why_not}", hint="upgrade clawkeeper to get it")
            if job.spec.missing is not None:
                raise ConfigError(
                    f"job {name} cannot run: {job.spec.missing}", hint="set it in clawkeeper.toml"
                )
            return job  # a job disabled in the config still runs when asked by name
    raise NotFound(f"no job called {name!r}", hint=f"the jobs are {', '.join(sorted(j.name for j in jobs))}")


def _print_table(rows: list[dict[str, Any]], timezone: str) -> None:
    table = Table(title=f"Maintenance schedule (times in {timezone})")
    for column in ("job", "schedule", "next run", "last run", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        last = row["last_run"]
        if last is None:
            last_text = "—"
        else:
            outcome = last["outcome"] or "?"
            style = OUTCOME_STYLE.get(outcome, "white")
            took = f" ({_duration(last['duration_s'])})" if last["duration_s"] is not None else ""
            last_text = f"{_short(last['started_at'])} [{style}]{outcome}[/]{took}"
        if row["running"]:
            status = f"[cyan]running since {_short(row['running_since'])}[/]"
        elif row["enabled"]:
            status = "[green]enabled[/]"
        else:
            status = f"[yellow]disabled[/]: {row['why_not']}"
        table.add_row(row["job"], row["cron"], _short(row["next_run"]) or "—", last_text, status)
    console.print(table)
    for row in rows:
        last = row["last_run"]
        if last is not None and last["outcome"] in ("failed", "abandoned") and last["error"]:
            console.print(f"[red]{row['job']}[/] last run: {last['error']}")


def _short(iso: str | None) -> str:
    """'2026-03-29T03:00:00+02:00' -> 'Sun 03-29 03:00'."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).strftime("%a %m-%d %H:%M")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
