"""`clawkeeper history`: what clawkeeper did, from the ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from clawkeeper.cli.context import recorded
from clawkeeper.cli.render import console, emit_json
from clawkeeper.ledger import RunRecord

OUTCOME_STYLE = {
    "ok": "green",
    "failed": "red",
    "error": "red",
    "interrupted": "yellow",
    "abandoned": "yellow",
    "running": "cyan",
}


def history(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000, help="How many runs.")] = 20,
    command: Annotated[
        str | None, typer.Option("--command", help="Only runs of this command (e.g. 'lab up').")
    ] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Show one run with its steps.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")] = False,
) -> None:
    """List recent clawkeeper runs: command, outcome, duration, error."""
    args = {"limit": limit, "command": command, "run": run_id, "json": as_json}
    with recorded(ctx, "history", args) as app:
        ledger = app.ledger
        if run_id is not None:
            record = ledger.get_run(run_id)
            if as_json:
                emit_json("run", {"run": record.to_json()})
            else:
                _print_run(record)
            return
        # this invocation is itself recorded; leave it out of its own listing
        runs = [r for r in ledger.recent_runs(limit=limit + 1, command=command) if r.id != app.run_id][:limit]
        if as_json:
            emit_json("history", {"runs": [r.to_json() for r in runs]})
            return
        _print_table(runs)


def _print_table(runs: list[RunRecord]) -> None:
    if not runs:
        console.print("No runs recorded yet.")
        return
    table = Table(title="clawkeeper history", show_lines=False)
    for column in ("id", "started (UTC)", "command", "target", "outcome", "took", "error"):
        table.add_column(column, overflow="fold")
    for r in runs:
        style = OUTCOME_STYLE.get(r.outcome, "white")
        took = f"{r.duration_s:.1f}s" if r.duration_s is not None else "—"
        table.add_row(
            str(r.id),
            r.started_at[:19].replace("T", " "),
            r.command,
            r.target or "—",
            f"[{style}]{r.outcome}[/]",
            took,
            (r.error or "")[:120],
        )
    console.print(table)


def _print_run(record: RunRecord) -> None:
    style = OUTCOME_STYLE.get(record.outcome, "white")
    console.print(
        f"run {record.id}  [bold]{record.command}[/]  [{style}]{record.outcome}[/]"
        f"  exit {record.exit_code}  started {record.started_at}"
    )
    if record.error:
        console.print(f"  error: {record.error}")
    for step in record.steps:
        step_style = OUTCOME_STYLE.get(step.outcome, "white")
        console.print(f"  - {step.name}: [{step_style}]{step.outcome}[/]  {step.detail or ''}")
