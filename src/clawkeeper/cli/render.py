"""Rendering helpers: JSON documents for machines, rich for people. Only cli/ imports rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

JSON_SCHEMA_VERSION = 1


def emit_json(kind: str, payload: dict[str, Any]) -> None:
    """Print one JSON document: {"kind", "schema_version", ...payload}. Shapes: docs/json-output.md."""
    document = {"kind": kind, "schema_version": JSON_SCHEMA_VERSION, **payload}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def yes_no(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    if value is None:
        return f"[yellow]{unknown}[/]"
    return f"[green]{yes}[/]" if value else f"[red]{no}[/]"
