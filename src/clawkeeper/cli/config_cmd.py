"""`clawkeeper config show|path`: what clawkeeper will use, and where it came from."""

from __future__ import annotations

from typing import Annotated

import typer

from clawkeeper.cli.context import app_context
from clawkeeper.cli.render import console, emit_json
from clawkeeper.config import default_config_path, to_toml

app = typer.Typer(help="Show clawkeeper's effective configuration.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective configuration (file + CLAWKEEPER_* overrides + defaults)."""
    loaded = app_context(ctx).loaded
    if as_json:
        emit_json(
            "config",
            {
                "path": str(loaded.path) if loaded.path else None,
                "overrides": list(loaded.overrides),
                "settings": loaded.settings.model_dump(mode="json"),
            },
        )
        return
    source = str(loaded.path) if loaded.path else f"(no file; defaults — would read {default_config_path()})"
    console.print(f"# from: {source}", markup=False, soft_wrap=True)
    if loaded.overrides:
        console.print(f"# env overrides: {', '.join(loaded.overrides)}")
    console.print(to_toml(loaded.settings), markup=False)


@app.command("path")
def path(ctx: typer.Context) -> None:
    """Print the path of the config file in use (or the default location)."""
    loaded = app_context(ctx).loaded
    typer.echo(str(loaded.path or default_config_path()))
