"""`clawkeeper backup ...`: deduplicated, encrypted, SQLite-consistent snapshots of the agent."""

from __future__ import annotations

import typer

app = typer.Typer(help="Back up the whole agent and restore it.", no_args_is_help=True)
