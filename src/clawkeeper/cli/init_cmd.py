"""`clawkeeper init`: discover the agent and write a config that pins what was found."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clawkeeper.agent import TARGET_HELP
from clawkeeper.cli.context import recorded
from clawkeeper.cli.render import console, emit_json
from clawkeeper.config import Settings, default_config_path, to_toml
from clawkeeper.effects.fs import atomic_write_text
from clawkeeper.errors import ResourceConflict
from clawkeeper.targets import resolve_target


def init(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option("--target", "-t", help=f"Which agent: {TARGET_HELP}.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: --config path, else XDG).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Discover the agent (live install, else a running lab) and write clawkeeper.toml."""
    args = {"target": target, "output": str(output) if output else None, "force": force, "dry_run": dry_run}
    with recorded(ctx, "init", args) as app:
        base = app.settings
        found = resolve_target(base, target)
        openclaw = base.agent.openclaw
        if found.label == "live":
            openclaw = openclaw.model_copy(
                update={
                    "binary": found.binary,
                    "state_dir": found.state_dir,
                    "config_path": found.config_path,
                    "profile": found.profile,
                }
            )
            chosen = "live"
        else:
            chosen = found.label
        agent = base.agent.model_copy(update={"target": chosen, "openclaw": openclaw})
        settings = Settings.model_validate({**base.model_dump(), "agent": agent.model_dump()})
        text = to_toml(settings)
        path = output or app.loaded.path or default_config_path()
        app.ledger.set_run_target(app.run_id or 0, found.label)
        if dry_run:
            if as_json:
                emit_json("init", {"path": str(path), "written": False, "target": found.label, "toml": text})
            else:
                console.print(f"would write {path}:", markup=False)
                console.print(text, markup=False)
            return
        if path.exists() and not force and path != app.loaded.path:
            raise ResourceConflict(f"{path} already exists", hint="pass --force to overwrite it, or --output")
        if path.exists() and path == app.loaded.path and not force:
            raise ResourceConflict(
                f"{path} is the config in use", hint="pass --force to rewrite it with what was discovered"
            )
        with app.ledger.step(app.run_id or 0, "write-config", {"path": str(path)}):
            atomic_write_text(path, text, mode=0o600)
        if as_json:
            emit_json("init", {"path": str(path), "written": True, "target": found.label, "toml": text})
        else:
            console.print(f"found OpenClaw ({found.label}); wrote {path}", markup=False)
