"""`clawkeeper init`: discover the agent and write a config."""

from __future__ import annotations

import typer


def init(ctx: typer.Context) -> None:
    """Discover the agent and write clawkeeper.toml."""
    raise NotImplementedError
