"""`clawkeeper service`: run the keeper (`clawkeeper up`) as a systemd user service."""

from __future__ import annotations

from typing import Annotated

import typer

from clawkeeper.cli.context import AppContext, recorded
from clawkeeper.cli.render import console, emit_json, yes_no
from clawkeeper.monitor import service

app = typer.Typer(help="Run the keeper as a systemd user service.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]


def _unit_text(app_ctx: AppContext) -> str:
    loaded = app_ctx.loaded
    argv = service.exec_argv(loaded.path)
    return service.render_unit(argv, drain_grace_s=loaded.settings.monitor.schedule.drain_grace)


def _warnings(app_ctx: AppContext) -> list[str]:
    loaded = app_ctx.loaded
    out: list[str] = []
    if loaded.path is None:
        out.append(
            "no config file is in use: the service runs with built-in defaults (and "
            "~/.config/clawkeeper/clawkeeper.toml once it exists)"
        )
    if loaded.overrides:
        out.append(
            f"{', '.join(loaded.overrides)} from this shell are not copied into the unit; "
            "put those settings in the config file"
        )
    return out


@app.command("install")
def install(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a different existing unit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write ~/.config/systemd/user/clawkeeper.service running `clawkeeper up --no-live-view`."""
    args = {"dry_run": dry_run, "force": force, "json": as_json}
    with recorded(ctx, "service install", args) as app_ctx:
        text = _unit_text(app_ctx)
        result = service.install(
            text, path=service.unit_path(), force=force, dry_run=dry_run, warnings=_warnings(app_ctx)
        )
        if as_json:
            emit_json("service.install", result.to_json())
            return
        for warning in result.warnings:
            console.print(f"[yellow]note:[/] {warning}")
        console.print(f"{result.action}: {result.path}")
        if result.dry_run:
            # raw text, never wrapped: people copy it
            typer.echo(result.diff or f"\n{result.text}", nl=False)
            return
        if result.reload is not None:
            if result.reload.ok:
                console.print("systemd reloaded its user units")
            else:
                console.print(
                    f"[yellow]could not reload systemd[/] ({result.reload.output}); "
                    "run `systemctl --user daemon-reload` in your login session"
                )
        typer.echo("next:")
        for step in result.next_steps:
            typer.echo(f"  {step}")


@app.command("uninstall")
def uninstall(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Remove the unit even if clawkeeper did not write it.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop and disable the service and remove its unit file."""
    args = {"dry_run": dry_run, "force": force, "json": as_json}
    with recorded(ctx, "service uninstall", args):
        result = service.uninstall(path=service.unit_path(), force=force, dry_run=dry_run)
        if as_json:
            emit_json("service.uninstall", result.to_json())
            return
        console.print(f"{result.action}: {result.path}")
        if result.dry_run:
            for step in result.planned:
                typer.echo(f"  would run: {step}")
        for command in result.commands:
            if not command.ok:
                console.print(f"  [yellow]{' '.join(command.argv)}[/]: {command.output}")


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show whether the unit is installed, current, enabled and active."""
    with recorded(ctx, "service status", {"json": as_json}) as app_ctx:
        result = service.status(path=service.unit_path(), expected=_unit_text(app_ctx))
        if as_json:
            emit_json("service.status", result.to_json())
            return
        console.print(f"unit:      {result.path}")
        console.print(f"installed: {yes_no(result.installed)}")
        if result.installed:
            console.print(f"current:   {yes_no(result.current)}")
            console.print(f"enabled:   {result.enabled or '[yellow]unknown[/]'}")
            console.print(f"active:    {result.active or '[yellow]unknown[/]'}")
        else:
            console.print("install it with `clawkeeper service install`")
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}")
