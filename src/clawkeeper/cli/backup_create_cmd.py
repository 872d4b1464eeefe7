"""`clawkeeper backup create`: a snapshot of the whole agent (or of the paths given).

It runs on every schedule, so it lives apart from the other backup commands (cli/lazy.py loads
each backup command on first use) and imports the engine only when it runs; its plain output
goes to a log or a pipe without loading rich.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clawkeeper.agent import TARGET_HELP
from clawkeeper.cli import render
from clawkeeper.cli.backup_common import (
    BackupBasics,
    JsonOpt,
    KeyFileOpt,
    RepoOpt,
    backup_basics,
    index_cache_dir,
    open_repo_soon,
    progress_bar,
    size_text,
)
from clawkeeper.cli.context import AppContext, app_context, recorded
from clawkeeper.cli.render import emit_json, say
from clawkeeper.errors import UsageError, VerificationFailed

if TYPE_CHECKING:
    from clawkeeper.agent.openclaw.target import OpenClawTarget
    from clawkeeper.backup.create import BackupOptions, BackupResult
    from clawkeeper.backup.sources import SourceSet


def _parse_meta(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--meta {item!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _agent_sources(
    app_ctx: AppContext,
    settings: BackupBasics,
    target_choice: str | None,
    state_dir: Path | None,
    config_path: Path | None,
    extra: list[Path],
    exclude: list[str],
    include_models: bool,
) -> tuple[SourceSet, dict[str, Any], OpenClawTarget | None]:
    """The sources, the agent's facts, and the target (None when the paths were given)."""
    from clawkeeper.backup.sources import OpenClawPaths, SourceSet, openclaw_sources

    meta: dict[str, Any] = {}
    warnings: list[str] = []
    agent: OpenClawTarget | None = None
    if state_dir is None and config_path is None:
        from clawkeeper.backup.openclaw_facts import openclaw_facts
        from clawkeeper.targets import resolve_target

        agent = resolve_target(app_ctx.settings, target_choice)
        facts = openclaw_facts(agent)
        paths = OpenClawPaths(
            facts.paths.state_dir, facts.paths.config_path, facts.paths.workspaces, tuple(extra)
        )
        meta.update(facts.meta)
        warnings.extend(facts.warnings)
    else:
        paths = OpenClawPaths(state_dir=state_dir, config_path=config_path, extra=tuple(extra))
    sources = openclaw_sources(
        paths,
        exclude=[*settings.exclude, *exclude],
        include_models=include_models and settings.include_models,
    )
    if warnings:
        sources = SourceSet(
            sources.roots,
            sources.excludes,
            sources.config_path,
            sources.config_hash,
            sources.config_version,
            (*sources.warnings, *warnings),
        )
    return sources, meta, agent


def _with_openclaw_archive(
    app_ctx: AppContext,
    stack: contextlib.ExitStack,
    agent: OpenClawTarget | None,
    sources: SourceSet,
    options: BackupOptions,
    *,
    required: bool,
    quiet: bool,
) -> tuple[SourceSet, BackupOptions]:
    """Have OpenClaw write its verified archive (removed when `stack` closes) and attach it."""
    from clawkeeper.backup.openclaw_archive import ArchiveReady, ArchiveSkipped, attach, openclaw_archive

    if agent is None:
        skipped = ArchiveSkipped("the agent was given as paths (--state-dir, PATHS), not found as a target")
        return attach(skipped, sources, options)
    settings = backup_basics(app_ctx)
    assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
    intent = {"target": agent.label, "required": required}
    with app_ctx.ledger.step(app_ctx.run_id, "openclaw archive", intent) as detail:
        status = (
            contextlib.nullcontext()
            if quiet or not render.is_terminal(err=True)
            else render.err_console.status("OpenClaw is writing and verifying its own archive…")
        )
        with status:
            outcome = stack.enter_context(
                openclaw_archive(
                    agent,
                    required=required,
                    openclaw_version=options.meta.get("openclaw_version"),
                    timeout=settings.openclaw_archive_timeout,
                    scratch_dir=settings.scratch_dir,
                )
            )
        if isinstance(outcome, ArchiveReady):
            detail.update({**outcome.info.to_json(), "duration_s": outcome.duration_s})
        else:
            detail["skipped"] = outcome.reason
    return attach(outcome, sources, options)


def create(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Back up exactly these paths instead of the agent (no OpenClaw rules).", show_default=False
        ),
    ] = None,
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    target: Annotated[str | None, typer.Option("--target", help=f"Which OpenClaw: {TARGET_HELP}.")] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="OpenClaw state dir (skips discovery).")
    ] = None,
    config_path: Annotated[Path | None, typer.Option("--config-path", help="OpenClaw config file.")] = None,
    extra: Annotated[list[Path] | None, typer.Option("--extra", help="Another path to include.")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-e", help="Exclude pattern (repeatable).")
    ] = None,
    no_models: Annotated[
        bool, typer.Option("--no-models", help="Skip model weight files (*.gguf, ...).")
    ] = False,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag the snapshot (repeatable).")] = None,
    openclaw_version: Annotated[
        str | None, typer.Option("--openclaw-version", help="Record this OpenClaw version (default: ask it).")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Record KEY=VALUE in the snapshot.")
    ] = None,
    no_files_cache: Annotated[
        bool, typer.Option("--force", help="Read every file, even unchanged ones.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be stored; store nothing.")
    ] = False,
    openclaw_archive: Annotated[
        bool | None,
        typer.Option(
            "--openclaw-archive/--no-openclaw-archive",
            help="Also store OpenClaw's own verified archive (`openclaw backup create --verify`) "
            "in the snapshot; if it fails, so does the command (default: backup.openclaw_archive, "
            "where a failure is a warning).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take a snapshot of the agent (config, credentials, databases, transcripts, workspace)."""
    from clawkeeper.backup.targets import describe

    if openclaw_archive and (paths or state_dir is not None or config_path is not None):
        raise UsageError(
            "--openclaw-archive needs the agent found as a target, not given as paths",
            hint="drop PATHS/--state-dir/--config-path (use --target), or drop --openclaw-archive",
        )
    # a passphrase is stretched on another core while the ledger opens and the engine is imported
    repository_ready = open_repo_soon(app_context(ctx), repo, key_file)
    args = {
        "repo": describe(repo) if repo else None,
        "paths": [str(p) for p in paths or []],
        "target": target,
        "state_dir": str(state_dir) if state_dir else None,
        "dry_run": dry_run,
        "tags": tag or [],
        "openclaw_archive": openclaw_archive,
    }
    with recorded(ctx, "backup create", args) as app_ctx, contextlib.ExitStack() as staged:
        from clawkeeper.backup.create import BackupOptions, create_snapshot
        from clawkeeper.backup.sources import plain_sources

        settings = backup_basics(app_ctx)
        repository = repository_ready()
        agent: OpenClawTarget | None = None
        if paths:
            sources = plain_sources(paths, exclude=[*settings.exclude, *(exclude or [])])
            agent_meta: dict[str, Any] = {}
        else:
            sources, agent_meta, agent = _agent_sources(
                app_ctx, settings, target, state_dir, config_path, extra or [], exclude or [], not no_models
            )
        extra_meta = {**agent_meta, **_parse_meta(meta or [])}
        if openclaw_version:
            extra_meta["openclaw_version"] = openclaw_version
        options = BackupOptions(
            tags=tuple(tag or []),
            meta=extra_meta,
            use_files_cache=not no_files_cache,
            sqlite_quick_check=settings.sqlite_quick_check,
            scratch_dir=settings.scratch_dir,
            index_cache=index_cache_dir(),
            dry_run=dry_run,
        )
        archive_wanted = settings.openclaw_archive if openclaw_archive is None else openclaw_archive
        if archive_wanted and dry_run:
            if not as_json:
                say("dry run: OpenClaw's own archive is not made (it would be stored too)")
        elif archive_wanted:
            sources, options = _with_openclaw_archive(
                app_ctx, staged, agent, sources, options, required=bool(openclaw_archive), quiet=as_json
            )
        assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
        intent = {
            "repo": repository.location,
            "roots": [str(r.path) for r in sources.roots],
            "dry_run": dry_run,
        }
        with (
            app_ctx.ledger.step(app_ctx.run_id, "snapshot", intent) as detail,
            progress_bar(not as_json) as cb,
        ):
            result = create_snapshot(repository, sources, options, cb)
            detail.update(
                {
                    "snapshot": result.snapshot.id or None,
                    "stats": result.snapshot.stats,
                    "warnings": len(result.warnings),
                }
            )
        if as_json:
            emit_json("backup.create", result.to_json())
        else:
            _print_create(result)
        if result.incomplete:
            raise VerificationFailed(
                f"snapshot {result.snapshot.short_id} was saved but misses "
                f"{result.snapshot.stats['unreadable']} unreadable path(s)",
                hint="see the warnings above; fix permissions and back up again",
            )


def _print_create(result: BackupResult) -> None:
    s = result.snapshot.stats
    verb = "Would store" if result.dry_run else "Stored"
    head = "dry run" if result.dry_run else f"snapshot [bold]{result.snapshot.short_id}[/]"
    say(
        f"{head}: {s['files']} files ({s['databases']} SQLite databases), {size_text(s['bytes'])}; "
        f"{s['files_reused'] + s['databases_reused']} unchanged files reused"
    )
    say(
        f"{verb} {size_text(s['added_raw_bytes'])} new data as {size_text(s['added_stored_bytes'])} "
        f"in {s['duration_s']:.1f}s"
    )
    archive = result.snapshot.meta.get("openclaw_archive")
    if isinstance(archive, dict):
        say(
            f"OpenClaw's own archive (verified): {archive.get('name')}, {size_text(archive.get('size'))}, "
            f"stored at /{archive.get('path')}"
        )
    for warning in result.warnings[:20]:
        say(f"[yellow]warning:[/] {warning}", err=True)
    if len(result.warnings) > 20:
        say(f"[yellow]... and {len(result.warnings) - 20} more warnings (see --json)[/]", err=True)
