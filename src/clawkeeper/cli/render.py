"""Rendering helpers: JSON documents for machines, rich for people. Only cli/ imports rich.

rich is imported when `console` or `err_console` is first used (they are created on first access),
so a command that prints only JSON, or only plain lines through `say` to a log, never loads it:
start-up time matters for short-lived commands such as a scheduled `backup create`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console

JSON_SCHEMA_VERSION = 1


def __getattr__(name: str) -> Any:
    """`console` and `err_console`, created (and rich imported) on first access."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    found = globals()
    if "console" not in found:
        found["console"] = Console(highlight=False)
        found["err_console"] = Console(stderr=True, highlight=False)
    return found[name]


def emit_json(kind: str, payload: dict[str, Any]) -> None:
    """Print one JSON document: {"kind", "schema_version", ...payload}. Shapes: docs/json-output.md."""
    document = {"kind": kind, "schema_version": JSON_SCHEMA_VERSION, **payload}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def yes_no(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    if value is None:
        return f"[yellow]{unknown}[/]"
    return f"[green]{yes}[/]" if value else f"[red]{no}[/]"


# rich's markup tags (rich.markup.RE_TAGS): `[bold]`, `[/]`, `[red]`...; `\[` escapes a bracket
_TAGS = re.compile(r"(\\*)\[([a-z#/@][^[]*?)]")
# what makes rich treat a stream as a terminal although it is not one
_FORCE_ENV = ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS")


def strip_markup(markup: str) -> str:
    """The text rich would show for `markup`, without styles (tags dropped, escapes resolved)."""
    if "[" not in markup:
        return markup

    def tag(match: re.Match[str]) -> str:
        backslashes, escaped = divmod(len(match.group(1)), 2)
        literal = "\\" * backslashes
        return f"{literal}[{match.group(2)}]" if escaped else literal

    out: list[str] = []
    position = 0
    for match in _TAGS.finditer(markup):
        out.append(markup[position : match.start()].replace("\\[", "["))
        out.append(tag(match))
        position = match.end()
    out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


def say(markup: str, *, err: bool = False) -> None:
    """Print one line of rich markup: through rich on a terminal, else as plain text without
    loading rich (a log or a pipe gets the same words, unstyled and unwrapped)."""
    stream = sys.stderr if err else sys.stdout
    if "console" in globals() or _is_terminal(stream):
        _console(err).print(markup)
        return
    stream.write(strip_markup(markup) + "\n")


def _console(err: bool) -> Console:
    found: Console = __getattr__("err_console" if err else "console")
    return found


def _is_terminal(stream: Any) -> bool:
    if any(os.environ.get(name) for name in _FORCE_ENV):
        return True  # rich decides (it may style output that is not a terminal)
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def is_terminal(*, err: bool = False) -> bool:
    """Whether rich would treat stdout (or stderr) as a terminal, without loading rich for a
    stream that plainly is not one."""
    stream = sys.stderr if err else sys.stdout
    if not _is_terminal(stream):
        return False
    return _console(err).is_terminal
