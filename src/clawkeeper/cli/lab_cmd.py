"""`clawkeeper lab up|status|down|destroy|list`: a real OpenClaw of any version, isolated on loopback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.status import Status
from rich.table import Table

from clawkeeper.agent.sandbox import (
    DestroyReport,
    DownReport,
    InstanceStatus,
    ProgressEvent,
    Sandbox,
    UpReport,
    list_instances,
)
from clawkeeper.cli.context import AppContext, recorded
from clawkeeper.cli.render import console, emit_json, err_console, yes_no
from clawkeeper.errors import NotFound, UsageError

app = typer.Typer(help="Run a real OpenClaw of any version in an isolated lab.", no_args_is_help=True)

NameOption = Annotated[str, typer.Option("--name", "-n", help="Lab instance name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]


class ProgressView:
    """Draws sandbox progress events: a spinner for the running phase, a line per finished one."""

    def __init__(self, status: Status | None) -> None:
        self.status = status

    def __call__(self, event: ProgressEvent) -> None:
        if self.status is None:
            return
        took = f" ({event.elapsed_s:.1f}s)" if event.elapsed_s is not None else ""
        if event.state == "done":
            err_console.print(f"[green]✓[/] {event.phase:<8} {event.message}{took}")
        elif event.state in ("start", "tick"):
            self.status.update(f"{event.phase}: {event.message}{took}")
        else:
            err_console.print(f"  {event.phase:<8} {event.message}")


@contextmanager
def progress_view(enabled: bool) -> Iterator[ProgressView]:
    if not enabled:
        yield ProgressView(None)
        return
    with err_console.status("lab", spinner="dots") as status:
        yield ProgressView(status)


def _sandbox(app_ctx: AppContext, name: str, view: ProgressView | None = None) -> Sandbox:
    settings = app_ctx.settings
    record = functools.partial(app_ctx.ledger.step, app_ctx.run_id or 0)
    return Sandbox(
        settings.lab,
        name=name,
        releases=settings.releases,
        progress=view or ProgressView(None),
        record=record,
    )


def _show_progress(as_json: bool) -> bool:
    """Progress goes to stderr; with --json only when a person is watching."""
    return not as_json or sys.stderr.isatty()


@app.command("up")
def up(
    ctx: typer.Context,
    version: Annotated[
        str | None,
        typer.Option("--version", "-v", help="OpenClaw version or dist-tag (default: lab.version)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", min=1, max=65535, help="Gateway port on 127.0.0.1.")
    ] = None,
    name: NameOption = "default",
    isolation: Annotated[
        str | None,
        typer.Option("--isolation", help="auto | namespace | none (default: lab.isolation)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Install (once), onboard (once) and start an OpenClaw gateway in an isolated lab instance.

    Running it again while the instance is up only reports that it runs.
    """
    if isolation is not None and isolation not in ("auto", "namespace", "none"):
        raise UsageError(f"--isolation must be auto, namespace or none, not {isolation!r}")
    args = {"version": version, "port": port, "name": name, "isolation": isolation, "json": as_json}
    with recorded(ctx, "lab up", args, target=f"lab:{name}") as app_ctx:
        with progress_view(_show_progress(as_json)) as view:
            report = _sandbox(app_ctx, name, view).up(version=version, port=port, isolation=isolation)
        if as_json:
            emit_json("lab.up", report.to_json())
        else:
            _print_up(report)


def _print_up(report: UpReport) -> None:
    if report.already_running:
        console.print(
            f"lab:{report.name} is already running OpenClaw {report.version} at {report.http_base} "
            f"(isolation: {report.isolation})"
        )
        return
    console.print(
        f"[green]lab:{report.name} is up[/]: OpenClaw {report.version} at {report.http_base} "
        f"(isolation: {report.isolation}, Node {report.node.get('version', '?')})"
    )
    console.print(f"  state: {report.state_dir}")
    for note in report.notes:
        console.print(f"  note: {note}")


@app.command("status")
def status(ctx: typer.Context, name: NameOption = "default", as_json: JsonOption = False) -> None:
    """Show one lab instance: version, port, isolation, processes and readiness."""
    with recorded(ctx, "lab status", {"name": name, "json": as_json}, target=f"lab:{name}") as app_ctx:
        report = _sandbox(app_ctx, name).status()
        if not report.exists:
            raise NotFound(
                f"no lab instance named {name!r} under {app_ctx.settings.lab.root}",
                hint=f"create it with `clawkeeper lab up --name {name}`",
            )
        if as_json:
            emit_json("lab.status", report.to_json())
        else:
            _print_status(report)


def _print_status(report: InstanceStatus) -> None:
    table = Table(title=f"lab:{report.name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("version", report.version or "—"),
        ("phase", report.phase or "—"),
        ("running", yes_no(report.running)),
        ("ready", yes_no(report.ready) + (f" ({report.readiness_error})" if report.readiness_error else "")),
        ("isolation", report.isolation or "—"),
        ("url", report.http_base or "—"),
        ("state dir", str(report.state_dir) if report.state_dir else "—"),
        (
            "node",
            f"{report.node.get('version', '?')} ({report.node.get('source', '?')})" if report.node else "—",
        ),
        ("token", report.token_fingerprint or "—"),
        ("created", report.created_at or "—"),
    ]
    for role, info in report.processes.items():
        rows.append((role, f"pid {info['pid']} " + ("alive" if info["alive"] else "[yellow]gone[/]")))
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if report.stale:
        console.print(
            f"[yellow]recorded processes that are gone: {', '.join(report.stale)} "
            "(`lab up` or `lab down` cleans them up)[/]"
        )


@app.command("down")
def down(ctx: typer.Context, name: NameOption = "default", as_json: JsonOption = False) -> None:
    """Stop every process of a lab instance and check that none is left. Its state is kept."""
    with recorded(ctx, "lab down", {"name": name, "json": as_json}, target=f"lab:{name}") as app_ctx:
        with progress_view(_show_progress(as_json)) as view:
            report = _sandbox(app_ctx, name, view).down()
        if as_json:
            emit_json("lab.down", report.to_json())
        else:
            _print_down(report)


def _print_down(report: DownReport) -> None:
    if not report.stopped:
        console.print(f"lab:{report.name} was not running; nothing to stop")
        return
    console.print(f"lab:{report.name} stopped; no process left:")
    for item in report.stopped:
        console.print(f"  {item.role:<16} pid {item.pid:<8} {item.how}")


@app.command("destroy")
def destroy(
    ctx: typer.Context,
    name: NameOption = "default",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be done.")] = False,
    remove_all: Annotated[
        bool, typer.Option("--all", help="Also remove the OpenClaw installs, Node links and npm cache.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Stop a lab instance and delete its directory (installs and npm cache stay unless --all)."""
    args = {"name": name, "yes": yes, "dry_run": dry_run, "all": remove_all, "json": as_json}
    with recorded(ctx, "lab destroy", args, target=f"lab:{name}") as app_ctx:
        sandbox = _sandbox(app_ctx, name)
        plan = sandbox.destroy(dry_run=True, remove_all=remove_all)
        if dry_run:
            _print_destroy(plan, as_json)
            return
        if not yes:
            _confirm(plan, name)
        _print_destroy(sandbox.destroy(remove_all=remove_all), as_json)


def _confirm(plan: DestroyReport, name: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(
            f"refusing to destroy lab instance {name!r} without confirmation",
            hint="pass --yes (or --dry-run to see what would be removed)",
        )
    for action in plan.actions:
        err_console.print(f"  {action}")
    answer = typer.prompt(f"Type the instance name ({name}) to destroy it", default="", show_default=False)
    if answer.strip() != name:
        raise UsageError("confirmation did not match; nothing was removed")


def _print_destroy(report: DestroyReport, as_json: bool) -> None:
    if as_json:
        emit_json("lab.destroy", report.to_json())
        return
    if not report.actions:
        console.print("nothing to do")
    for action in report.actions:
        console.print(action if report.dry_run else f"done: {action}")


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the lab instances with their version, port and state."""
    with recorded(ctx, "lab list", {"json": as_json}) as app_ctx:
        reports = list_instances(app_ctx.settings.lab)
        if as_json:
            emit_json(
                "lab.list",
                {"root": str(app_ctx.settings.lab.root), "instances": [r.to_json() for r in reports]},
            )
            return
        if not reports:
            console.print(f"No lab instances under {app_ctx.settings.lab.root}.")
            return
        table = Table(title=f"lab instances ({app_ctx.settings.lab.root})")
        for column in ("name", "version", "port", "isolation", "phase", "running", "ready"):
            table.add_column(column)
        for r in reports:
            table.add_row(
                r.name,
                r.version or "—",
                str(r.port or "—"),
                r.isolation or "—",
                r.phase or "—",
                yes_no(r.running),
                yes_no(r.ready) if r.running else "—",
            )
        console.print(table)
