"""`clawkeeper status`: the agent on one screen."""

from __future__ import annotations

import typer


def status(ctx: typer.Context) -> None:
    """Show versions, health, busy state, findings and releases."""
    raise NotImplementedError
