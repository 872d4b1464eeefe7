"""Plain output without rich: the same words rich would print, for logs and pipes."""

from __future__ import annotations

import pytest
from rich.text import Text

from clawkeeper.cli import render

MARKUP = [
    "snapshot [bold]1a2b3c4d[/]: 12 files",
    "[yellow]warning:[/] /srv/agent/x is unreadable",
    "[red]no[/] and [green]yes[/]",
    r"a literal \[bold] stays",
    r"a backslash \\[bold]then bold[/bold]",
    "a list [1, 2] and a path/[weird]/name",
    "no markup at all",
    "a[",
]


@pytest.mark.parametrize("text", MARKUP)
def test_strip_markup_shows_what_rich_shows(text: str) -> None:
    assert render.strip_markup(text) == Text.from_markup(text, emoji=False).plain


def test_say_prints_plain_lines_off_a_terminal_without_loading_rich(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("console", "err_console"):  # as in a fresh process
        monkeypatch.delitem(render.__dict__, name, raising=False)
    for name in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    render.say("snapshot [bold]1a2b3c4d[/]: " + "x" * 120)
    render.say("[yellow]warning:[/] careful", err=True)
    out, err = capsys.readouterr()
    assert out == "snapshot 1a2b3c4d: " + "x" * 120 + "\n"  # one line: no wrapping at 80 columns
    assert err == "warning: careful\n"
    assert "console" not in render.__dict__
    assert not render.is_terminal() and not render.is_terminal(err=True)
