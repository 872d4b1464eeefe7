"""What the `clawkeeper backup ...` commands share: their options, opening the repository, the
progress bar and sizes.

The repository comes from `--repo`, `$CLAWKEEPER_BACKUP__REPO` or `backup.repo`; it is unlocked
with `--key-file` / `backup.key_file`, else the passphrase in `$CLAWKEEPER_BACKUP_PASSPHRASE`,
else a prompt on a terminal.

Every backup command imports this module: the engine modules are imported by the functions that
use them, so a scheduled `backup create` loads no more than it needs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clawkeeper.cli import render
from clawkeeper.cli.context import AppContext
from clawkeeper.errors import UsageError

if TYPE_CHECKING:
    from clawkeeper.backup.progress import ProgressCallback
    from clawkeeper.backup.repository import Credentials, Repository
    from clawkeeper.backup.settings import BackupSettings
    from clawkeeper.backup.targets import BackupTarget

PASSPHRASE_ENV = "CLAWKEEPER_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

RepoOpt = Annotated[
    str | None,
    typer.Option(
        "--repo",
        "-r",
        help="Repository: a folder, sftp://user@host:port/path or s3://bucket/prefix (default: backup.repo).",
        envvar="CLAWKEEPER_BACKUP__REPO",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="Unlock with this 0600 key file instead of a passphrase (default: backup.key_file).",
        envvar="CLAWKEEPER_BACKUP__KEY_FILE",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]


def backup_settings(app_ctx: AppContext) -> BackupSettings:
    """The whole validated `[backup]` section (its pydantic model)."""
    from clawkeeper.backup.settings import BackupSettings

    value = getattr(app_ctx.settings, "backup", None)
    return value if isinstance(value, BackupSettings) else BackupSettings()


@dataclass(frozen=True)
class BackupBasics:
    """What `[backup]` says about where and how to back up: the part of `BackupSettings` that
    `backup create` and the repository commands read, taken from the section's validated values
    (`AppContext.section`) so that they need not build the pydantic models on every run. Remote
    repositories, and the commands that need more, use `backup_settings`."""

    repo: str | None
    key_file: Path | None
    exclude: tuple[str, ...]
    include_models: bool
    sqlite_quick_check: bool
    scratch_dir: Path | None
    openclaw_archive: bool
    openclaw_archive_timeout: float

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> BackupBasics:
        """From `BackupSettings.model_dump(mode="json")`."""

        def path(value: Any) -> Path | None:
            return None if value is None else Path(value)

        return cls(
            repo=values["repo"],
            key_file=path(values["key_file"]),
            exclude=tuple(values["exclude"]),
            include_models=bool(values["include_models"]),
            sqlite_quick_check=bool(values["sqlite_quick_check"]),
            scratch_dir=path(values["scratch_dir"]),
            openclaw_archive=bool(values["openclaw_archive"]),
            openclaw_archive_timeout=float(values["openclaw_archive_timeout"]),
        )


def backup_basics(app_ctx: AppContext) -> BackupBasics:
    return BackupBasics.of(app_ctx.section("backup"))


def repo_path(repo: str | None, settings: BackupSettings | BackupBasics) -> str:
    from clawkeeper.backup.targets import is_remote

    chosen = repo or settings.repo
    if chosen is None:
        raise UsageError(
            "no backup repository given", hint="pass --repo PATH or set backup.repo in clawkeeper.toml"
        )
    return chosen if is_remote(chosen) else str(Path(chosen).expanduser())


def ask_passphrase(confirm: bool) -> str | None:
    if not sys.stdin.isatty():
        return None
    return str(typer.prompt("Repository passphrase", hide_input=True, confirmation_prompt=confirm, err=True))


def open_location(app_ctx: AppContext, location: str) -> BackupTarget:
    """The target at `location`; only a remote one needs `[backup.sftp]` / `[backup.s3]`, and so
    the whole `[backup]` model."""
    from clawkeeper.backup.targets import is_remote, open_target

    return open_target(location, backup_settings(app_ctx) if is_remote(location) else None)


def credentials(
    app_ctx: AppContext, location: str, key_file: Path | None, basics: BackupBasics
) -> Credentials:
    from clawkeeper.backup.repository import Credentials, read_config

    key = key_file or basics.key_file
    if key is not None:
        key = key.expanduser()
        _warn_if_readable(key)
        return Credentials(key_file=key)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    if passphrase is None:
        with contextlib.closing(open_location(app_ctx, location)) as target:
            config = read_config(target)
        if config.key_mode == "passphrase":
            passphrase = ask_passphrase(confirm=False)
    return Credentials(passphrase=passphrase)


def _warn_if_readable(key: Path) -> None:
    from clawkeeper.backup.keys import key_file_is_private

    if key.is_file() and not key_file_is_private(key):
        render.say(f"[yellow]warning:[/] {key} is readable by other users; `chmod 600 {key}`", err=True)


def index_cache_dir() -> Path:
    """Where backups keep their master index between runs (`backup/index_cache.py`)."""
    import platformdirs

    from clawkeeper.configfile import APP

    return Path(platformdirs.user_cache_dir(APP)) / "backup-index"


def open_repo(app_ctx: AppContext, repo: str | None, key_file: Path | None) -> Repository:
    from clawkeeper.backup.repository import Repository

    basics = backup_basics(app_ctx)
    location = repo_path(repo, basics)
    unlock = credentials(app_ctx, location, key_file, basics)
    return Repository.open(open_location(app_ctx, location), unlock)


def open_repo_soon(app_ctx: AppContext, repo: str | None, key_file: Path | None) -> Callable[[], Repository]:
    """`open_repo` in two halves: this one starts stretching a passphrase from the environment on
    another thread (scrypt, 0.1 s, releases the GIL), and the function it returns opens the
    repository with it, so the caller's work in between (importing the engine, opening the
    ledger) overlaps it. A key file, or a passphrase that may have to be asked for, opens the
    repository here and now. Whatever fails is raised by the returned function, so a caller that
    starts this before recording its run records the failure."""
    from concurrent.futures import Future, ThreadPoolExecutor

    try:
        basics = backup_basics(app_ctx)
        passphrase = os.environ.get(PASSPHRASE_ENV)
        if key_file is not None or basics.key_file is not None or passphrase is None:
            opened: Future[Repository] = Future()
            opened.set_result(open_repo(app_ctx, repo, key_file))
            return opened.result
        target = open_location(app_ctx, repo_path(repo, basics))
    except Exception as exc:  # noqa: BLE001 - raised again by the returned function
        failed: Future[Repository] = Future()
        failed.set_exception(exc)
        return failed.result
    from clawkeeper.backup.keys import stretch_passphrase  # here: the worker starts scrypt at once

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-unlock")
    stretching = pool.submit(stretch_passphrase, target, passphrase)
    pool.shutdown(wait=False)

    def opened_repository() -> Repository:
        from clawkeeper.backup.repository import Credentials, Repository

        unlock = Credentials(passphrase=passphrase, stretched=stretching.result())
        return Repository.open(target, unlock)

    return opened_repository


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar (bytes, throughput, ETA) on stderr, fed by the core's callback."""
    if not enabled or not render.is_terminal(err=True):
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from clawkeeper.backup.progress import Progress as ProgressEvent

    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=render.err_console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(event: ProgressEvent) -> None:
        task = tasks.get(event.phase)
        if task is None:
            task = bar.add_task(event.phase, total=event.total_bytes or None)
            tasks[event.phase] = task
        items = f" {event.done_items}/{event.total_items}" if event.total_items else ""
        bar.update(task, completed=event.done_bytes, description=f"{event.phase}{items}")

    with bar:
        yield update


def size_text(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def short_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
