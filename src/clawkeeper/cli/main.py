"""Entry point: the typer app, global options, and the one top-level error handler."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from clawkeeper import __version__
from clawkeeper.cli.context import AppContext
from clawkeeper.cli.lazy import LazyGroup
from clawkeeper.errors import ClawkeeperError, ExitCode, Interrupted

app = typer.Typer(
    name="clawkeeper",
    help="Keep a self-hosted OpenClaw agent healthy: status, lab, backups, updates, monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=LazyGroup,  # subcommands are imported on first use: see cli/lazy.py
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clawkeeper {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: ./clawkeeper.toml, then XDG).",
            envvar="CLAWKEEPER_CONFIG",
            show_envvar=True,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """clawkeeper treats every change to your agent as a production deployment."""
    ctx.obj = AppContext(config_file=config)
    ctx.call_on_close(ctx.obj.close)


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted("terminated by SIGTERM")


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point. Every failure ends here as one line and a documented exit code."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = main_exit_code(argv)
    sys.stdout.flush()
    sys.exit(code)


def _click_error_kind(exc: BaseException) -> str | None:
    """Classify the command-line parser's exceptions by class name.

    typer vendors its parser privately (typer._click) in recent releases, so we match the public
    class names rather than import a private module.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    for kind in ("NoArgsIsHelpError", "UsageError", "Exit", "Abort", "ClickException"):
        if kind in names:
            return kind
    return None


def main_exit_code(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by `run` and by tests)."""
    try:
        result = app(args=argv, prog_name="clawkeeper", standalone_mode=False)
    except (KeyboardInterrupt, Interrupted, typer.Abort):
        typer.echo("clawkeeper: interrupted; state was left consistent", err=True)
        return int(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ClawkeeperError as exc:
        typer.echo(f"clawkeeper: error: {exc.one_line()}", err=True)
        return int(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the one place a failure becomes an exit code
        kind = _click_error_kind(exc)
        ctx = getattr(exc, "ctx", None)
        if kind == "NoArgsIsHelpError":
            typer.echo(ctx.get_help() if ctx is not None else str(exc))
            return int(ExitCode.OK)
        if kind == "UsageError":
            command = ctx.command_path if ctx is not None else "clawkeeper"
            typer.echo(
                f"clawkeeper: usage error: {exc.format_message()} — see `{command} --help`",  # type: ignore[attr-defined]
                err=True,
            )
            return int(ExitCode.USAGE)
        if kind == "Exit":
            return int(getattr(exc, "exit_code", 0))
        if kind == "Abort":
            typer.echo("clawkeeper: interrupted; state was left consistent", err=True)
            return int(ExitCode.INTERRUPTED)
        if kind == "ClickException":
            typer.echo(f"clawkeeper: error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
            return int(ExitCode.USAGE)
        if os.environ.get("CLAWKEEPER_DEBUG"):
            traceback.print_exc()
        typer.echo(
            f"clawkeeper: internal error: {type(exc).__name__}: {exc} — this is a bug; rerun with "
            "CLAWKEEPER_DEBUG=1 for a traceback and report it",
            err=True,
        )
        return int(ExitCode.INTERNAL)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


if __name__ == "__main__":  # pragma: no cover
    run()
