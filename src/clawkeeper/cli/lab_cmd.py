"""`clawkeeper lab up|status|down|destroy`: a real OpenClaw of any version, isolated on loopback."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a real OpenClaw of any version in an isolated lab.", no_args_is_help=True)
