"""Subcommands imported on first use, so `clawkeeper backup create` doesn't pay for importing the
probe engine, the lab and the monitor (start-up time matters: the keeper's jobs and a no-change
backup are both short-lived processes).

`LazyGroup` is the click group class of the top-level typer app: `LAZY` maps a command name to
"module:attribute", where the attribute is a typer sub-app (a command group) or a command function.
`BackupGroup` does the same for `clawkeeper backup` (`BACKUP`): `backup create` runs on every
schedule, and should not pay for converting (or importing) restore, verify and prune.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from clawkeeper.cli.coercion import lighten

# Order is the order of `clawkeeper --help`.
LAZY: dict[str, str] = {
    "init": "clawkeeper.cli.init_cmd:init",
    "status": "clawkeeper.cli.status_cmd:status",
    "up": "clawkeeper.cli.up_cmd:up",
    "alerts": "clawkeeper.cli.alerts_cmd:app",
    "metrics": "clawkeeper.cli.metrics_cmd:metrics",
    "schedule": "clawkeeper.cli.schedule_cmd:app",
    "service": "clawkeeper.cli.service_cmd:app",
    "verify": "clawkeeper.cli.verify_cmd:verify",
    "backup": "clawkeeper.cli.lazy:backup_app",
    "history": "clawkeeper.cli.history_cmd:history",
    "lab": "clawkeeper.cli.lab_cmd:app",
    "config": "clawkeeper.cli.config_cmd:app",
}


def load_command(name: str, spec: str) -> Any:
    """The click command for `spec` ("module:attribute"), named `name`."""
    module_name, attribute = spec.split(":", 1)
    target = getattr(importlib.import_module(module_name), attribute)
    # a holder with the root app's settings, so sub-apps render help exactly as if added eagerly
    holder = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    holder.callback()(_no_op)
    group: Any = typer.main.get_command(holder)
    return group.commands[name]


def _no_op() -> None:
    """Makes the holder a group, so its single command keeps its own name."""


class LazyGroup(TyperGroup):
    lazy: ClassVar[dict[str, str]] = LAZY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lighten(self)  # its own options (--config, ...): see cli/coercion.py

    def list_commands(self, ctx: Any) -> list[str]:
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in self.lazy if name not in eager)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command = load_command(cmd_name, self.lazy[cmd_name])
            lighten(command)
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)

    def load_all(self, ctx: Any) -> None:
        for name in self.list_commands(ctx):
            self.get_command(ctx, name)


# `clawkeeper backup ...`, in the order of `clawkeeper backup --help`.
BACKUP: dict[str, str] = {
    "init": "clawkeeper.cli.backup_cmd:init",
    "create": "clawkeeper.cli.backup_create_cmd:create",
    "list": "clawkeeper.cli.backup_cmd:list_cmd",
    "show": "clawkeeper.cli.backup_cmd:show",
    "diff": "clawkeeper.cli.backup_cmd:diff",
    "verify": "clawkeeper.cli.backup_cmd:verify",
    "restore": "clawkeeper.cli.backup_cmd:restore",
    "forget": "clawkeeper.cli.backup_cmd:forget",
    "prune": "clawkeeper.cli.backup_cmd:prune",
}


class BackupGroup(LazyGroup):
    lazy = BACKUP


backup_app = typer.Typer(
    help="Back up the whole agent and restore it.", no_args_is_help=True, cls=BackupGroup
)
