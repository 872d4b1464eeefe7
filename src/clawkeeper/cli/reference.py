"""Generated documentation: the exit-code table and the CLI reference (docs/*.md).

`python -m clawkeeper.cli.reference --write` regenerates them; tests/unit/test_docs.py fails when
the committed files differ from what the code says, so docs cannot drift from behaviour.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import typer

from clawkeeper.errors import EXIT_CODE_MEANINGS, ExitCode

DOCS = Path(__file__).resolve().parents[3] / "docs"


def exit_codes_markdown() -> str:
    lines = [
        "# Exit codes",
        "",
        "Every clawkeeper command exits with one of these codes. They are a stable contract:",
        "a code never changes meaning (generated from `clawkeeper.errors.ExitCode`; pinned by tests).",
        "",
        "| code | name | meaning |",
        "|---:|---|---|",
    ]
    for code in ExitCode:
        lines.append(f"| {int(code)} | `{code.name}` | {EXIT_CODE_MEANINGS[code]} |")
    lines += [
        "",
        "Errors print one line on stderr: `clawkeeper: error: <what went wrong> — <how to fix it>`.",
        "`CLAWKEEPER_DEBUG=1` adds a traceback for internal errors (exit 70).",
        "",
    ]
    return "\n".join(lines)


def _help_of(path: list[str]) -> str:
    from clawkeeper.cli.main import main_exit_code

    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        with contextlib.redirect_stdout(out):
            main_exit_code([*path, "--help"])
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip() + "\n"


def _command_paths() -> list[list[str]]:
    from clawkeeper.cli.main import app

    root: Any = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, prefix: list[str]) -> None:
        paths.append(prefix)
        if hasattr(command, "load_all"):
            command.load_all(typer.Context(command))
        for name in sorted(getattr(command, "commands", {}) or {}):
            walk(command.commands[name], [*prefix, name])

    walk(root, [])
    return paths


def cli_reference_markdown() -> str:
    lines = [
        "# CLI reference",
        "",
        "Generated from `--help` by `python -m clawkeeper.cli.reference --write`; checked by tests.",
        "",
    ]
    for path in _command_paths():
        title = " ".join(["clawkeeper", *path])
        lines += [f"## `{title}`", "", "```text", _help_of(path).rstrip(), "```", ""]
    return "\n".join(lines)


GENERATED = {
    "exit-codes.md": exit_codes_markdown,
    "cli.md": cli_reference_markdown,
}


def main(argv: list[str]) -> int:
    write = "--write" in argv
    stale = []
    for name, render in GENERATED.items():
        text = render()
        target = DOCS / name
        if write:
            target.write_text(text)
        elif not target.is_file() or target.read_text() != text:
            stale.append(name)
    if stale:
        sys.stderr.write(f"stale docs: {', '.join(stale)} — run python -m clawkeeper.cli.reference --write\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
