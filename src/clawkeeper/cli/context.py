"""Shared resources for commands: the loaded config and the ledger, created on first use.

Every command imports this module, so the config models (pydantic) and the ledger (sqlite3) are
imported only when a command first asks for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from clawkeeper.errors import ClawkeeperError, ExitCode, Interrupted

if TYPE_CHECKING:
    from clawkeeper.config import LoadedConfig, Settings
    from clawkeeper.ledger import Ledger


@dataclass
class AppContext:
    config_file: Path | None = None
    run_id: int | None = None
    _extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def loaded(self) -> LoadedConfig:
        from clawkeeper.config import load_config

        return load_config(self.config_file)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    def section(self, name: str) -> dict[str, Any]:
        """One section of the validated configuration as JSON values (`model_dump(mode="json")`).
        `backup` and `ledger` come from `configfile.validated_sections`, without pydantic when the
        configuration is unchanged since it was last validated."""
        from clawkeeper.configfile import CACHED_SECTIONS

        if "loaded" in self.__dict__ or name not in CACHED_SECTIONS:
            value: dict[str, Any] = getattr(self.settings, name).model_dump(mode="json")
            return value
        return self._sections[name]

    @cached_property
    def _sections(self) -> dict[str, dict[str, Any]]:
        from clawkeeper.configfile import validated_sections

        return validated_sections(self.config_file)

    @cached_property
    def ledger(self) -> Ledger:
        from clawkeeper.ledger import Ledger

        return Ledger(Path(self.section("ledger")["path"]))

    def close(self) -> None:
        if "ledger" in self.__dict__:
            self.ledger.close()


def app_context(ctx: typer.Context) -> AppContext:
    root = ctx.find_root()
    if not isinstance(root.obj, AppContext):
        root.obj = AppContext()
    return root.obj


@contextlib.contextmanager
def recorded(
    ctx: typer.Context, command: str, args: Mapping[str, Any], *, target: str | None = None
) -> Iterator[AppContext]:
    """Record this command in the ledger: start before the work, outcome after."""
    app = app_context(ctx)
    run_id = app.ledger.start_run(command, args, target=target)
    app.run_id = run_id
    try:
        yield app
    except typer.Exit as exc:
        code = int(exc.exit_code or 0)
        app.ledger.finish_run(run_id, outcome="ok" if code == 0 else "failed", exit_code=code)
        raise
    except (KeyboardInterrupt, Interrupted) as exc:
        app.ledger.finish_run(
            run_id, outcome="interrupted", exit_code=int(ExitCode.INTERRUPTED), error="interrupted"
        )
        raise Interrupted("interrupted") from exc
    except ClawkeeperError as exc:
        outcome = "failed" if exc.exit_code in (ExitCode.FAILED, ExitCode.INCONCLUSIVE) else "error"
        app.ledger.finish_run(run_id, outcome=outcome, exit_code=int(exc.exit_code), error=exc.one_line())
        raise
    except BaseException as exc:
        app.ledger.finish_run(
            run_id, outcome="error", exit_code=int(ExitCode.INTERNAL), error=f"{type(exc).__name__}: {exc}"
        )
        raise
    app.ledger.finish_run(run_id, outcome="ok", exit_code=0)
