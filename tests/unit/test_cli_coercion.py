"""Plain command-line values converted without pydantic give what typer's own conversion gives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from clawkeeper.cli.coercion import PlainValues, lighten


def build(lightened: bool) -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.command()
    def command(
        paths: Annotated[list[Path] | None, typer.Argument()] = None,
        name: Annotated[str | None, typer.Option("--name", envvar="COERCION_TEST_NAME")] = None,
        where: Annotated[Path | None, typer.Option("--where")] = None,
        must: Annotated[Path | None, typer.Option("--must", exists=True)] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag")] = None,
        flag: Annotated[bool | None, typer.Option("--flag/--no-flag")] = None,
        count: Annotated[int, typer.Option("--count")] = 1,
    ) -> None:
        seen.append(
            {
                "paths": paths,
                "name": name,
                "where": where,
                "must": must,
                "tag": tag,
                "flag": flag,
                "count": count,
            }
        )

    click_command = typer.main.get_command(app)
    if lightened:
        lighten(click_command)
    return click_command, seen


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["a", "b/c", "--name", "x", "--where", "w", "--tag", "t1", "--tag", "t2", "--flag", "--count", "3"],
        ["--no-flag", "--must", "."],
        ["--must", "/nonexistent/path"],
        ["--count", "many"],
    ],
)
def test_lightened_parameters_convert_exactly_like_typer(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COERCION_TEST_NAME", "from-env")
    results = []
    for lightened in (False, True):
        command, seen = build(lightened)
        try:
            command(args=args, prog_name="t", standalone_mode=False)
            outcome: Any = seen
        except Exception as exc:  # noqa: BLE001 - the parser's own errors are compared
            outcome = (
                type(exc).__name__,
                exc.format_message() if hasattr(exc, "format_message") else str(exc),
            )
        results.append(outcome)
    assert results[0] == results[1]


def test_only_plain_parameters_get_the_light_converter() -> None:
    command, _seen = build(True)
    kinds = {p.name: type(p._runtime_param).__name__ for p in command.params}
    assert kinds["count"] == "NoneType"  # typer builds its own when needed
    assert {name for name, kind in kinds.items() if kind == PlainValues.__name__} == {
        "paths",
        "name",
        "where",
        "must",
        "tag",
        "flag",
    }
