"""`clawkeeper backup ...`: deduplicated, encrypted, SQLite-consistent snapshots of the agent.

Every command is recorded in the ledger; the ones that change the repository or the agent's
files also record a step (intent before, outcome after). `backup create` lives in
backup_create_cmd.py and what the commands share in backup_common.py; cli/lazy.py (`BACKUP`)
names each command and imports it on first use.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.snapshots import list_snapshots, load_snapshot, resolve_snapshot_id
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import describe, open_target
from clawkeeper.cli.backup_common import PASSPHRASE_ENV, JsonOpt, KeyFileOpt, RepoOpt
from clawkeeper.cli.backup_common import ask_passphrase as _ask_passphrase
from clawkeeper.cli.backup_common import backup_settings as _settings
from clawkeeper.cli.backup_common import open_repo as _open_repo
from clawkeeper.cli.backup_common import progress_bar as _progress
from clawkeeper.cli.backup_common import repo_path as _repo_path
from clawkeeper.cli.backup_common import short_time as _short_time
from clawkeeper.cli.backup_common import size_text as _size
from clawkeeper.cli.context import AppContext, recorded
from clawkeeper.cli.render import console, emit_json, err_console
from clawkeeper.errors import UsageError, VerificationFailed

# Each command imports the engine modules it needs when it runs: a command that is not run
# should not pay for restore, verify, prune and the progress widgets.


# init ----------------------------------------------------------------------------------------------
def init(
    ctx: typer.Context,
    repo: RepoOpt = None,
    new_key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Create this key file (0600) and use it instead of a passphrase."),
    ] = None,
    encryption: Annotated[
        str, typer.Option("--encryption", help="aes-256-gcm (default) or none (not recommended).")
    ] = "aes-256-gcm",
    as_json: JsonOpt = False,
) -> None:
    """Create an empty, encrypted backup repository."""
    args = {
        "repo": describe(repo) if repo else None,
        "key_file": str(new_key_file) if new_key_file else None,
        "encryption": encryption,
    }
    with recorded(ctx, "backup init", args) as app_ctx:
        settings = _settings(app_ctx)
        path = _repo_path(repo, settings)
        passphrase = None
        if encryption != "none" and new_key_file is None:
            passphrase = os.environ.get(PASSPHRASE_ENV) or _ask_passphrase(confirm=True)
        assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
        with app_ctx.ledger.step(app_ctx.run_id, "init repository", {"repo": describe(path)}) as detail:
            repository = init_repository(
                open_target(path, settings),
                Credentials(passphrase=passphrase),
                encryption=encryption,
                new_key_file=new_key_file.expanduser() if new_key_file else None,
            )
            detail["repository_id"] = repository.config.repo_id
        payload = {
            "repo": describe(path),
            "id": repository.config.repo_id,
            "encryption": encryption,
            "key_mode": repository.config.key_mode,
        }
        if as_json:
            emit_json("backup.init", payload)
        else:
            console.print(
                f"Created repository {repository.config.repo_id[:8]} at {path} "
                f"({encryption}, unlocked by {repository.config.key_mode})."
            )
            if new_key_file:
                console.print(
                    f"[yellow]Keep a copy of {new_key_file} somewhere safe: without it the "
                    "backups cannot be read.[/]"
                )


# list / show / diff ----------------------------------------------------------------------------------
def list_cmd(
    ctx: typer.Context, repo: RepoOpt = None, key_file: KeyFileOpt = None, as_json: JsonOpt = False
) -> None:
    """List the snapshots in the repository, oldest first."""
    from rich.table import Table

    with recorded(ctx, "backup list", {"repo": describe(repo) if repo else None}) as app_ctx:
        repository = _open_repo(app_ctx, repo, key_file)
        snapshots = list_snapshots(repository)
        if as_json:
            emit_json(
                "backup.list", {"repo": repository.location, "snapshots": [s.summary() for s in snapshots]}
            )
            return
        if not snapshots:
            console.print("No snapshots yet.")
            return
        table = Table(title=f"snapshots in {repository.location}")
        for column in ("id", "time", "host", "OpenClaw", "files", "size", "added", "tags"):
            table.add_column(column)
        for s in snapshots:
            table.add_row(
                s.short_id,
                _short_time(s.time),
                s.hostname,
                str(s.meta.get("openclaw_version") or "—"),
                str(s.stats.get("files", "—")),
                _size(s.stats.get("bytes")),
                _size(s.stats.get("added_stored_bytes")),
                ",".join(s.tags),
            )
        console.print(table)


def show(
    ctx: typer.Context,
    snapshot: Annotated[str, typer.Argument(help="Snapshot id (prefix) or `latest`.")] = "latest",
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    files: Annotated[bool, typer.Option("--files", help="Also list every path in the snapshot.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one snapshot: when, what, which OpenClaw version, database schemas, OpenClaw's archive."""
    from clawkeeper.backup.openclaw_archive import StoredArchive
    from clawkeeper.backup.snapshots import iter_tree
    from clawkeeper.backup.tree import EntryType

    with recorded(ctx, "backup show", {"snapshot": snapshot}) as app_ctx:
        repository = _open_repo(app_ctx, repo, key_file)
        snap = load_snapshot(repository, resolve_snapshot_id(repository, snapshot))
        entries = list(iter_tree(repository, snap)) if files else []
        if as_json:
            archive_info = StoredArchive.of(snap)  # checked: a malformed record fails here too
            doc = {**snap.to_json(), "id": snap.id, "tree": None}
            doc["openclaw_archive"] = archive_info.to_json() if archive_info else None
            if files:
                doc["files"] = [
                    {
                        "path": "/" + e.path,
                        "type": e.type.name.lower(),
                        "mode": f"{e.mode:o}",
                        "size": e.size,
                        "target": e.link_target,
                        "sqlite": e.sqlite,
                    }
                    for e in entries
                ]
            emit_json("backup.show", {"snapshot": doc})
            return
        console.print(f"snapshot [bold]{snap.id}[/]")
        console.print(f"  time       {_short_time(snap.time)}   host {snap.hostname}   user {snap.username}")
        for root in snap.roots:
            console.print(f"  {root['role']:<10} {root['path']}")
        for key in ("openclaw_version", "config_last_touched_version", "config_hash"):
            if key in snap.meta:
                console.print(f"  {key:<10} {snap.meta[key]}")
        for path, db in sorted(snap.meta.get("databases", {}).items()):
            console.print(
                f"  database   /{path}  user_version {db.get('user_version')}  "
                f"{_size((db.get('page_count') or 0) * (db.get('page_size') or 0))}"
            )
        archive = StoredArchive.of(snap)
        if archive is not None:
            console.print(
                f"  openclaw archive  {archive.name}  {_size(archive.size)}  "
                f"OpenClaw {archive.openclaw_version or 'unknown'}\n"
                f"             sha256 {archive.sha256}  (restore: --openclaw-archive-only)"
            )
        stats = snap.stats
        console.print(
            f"  contents   {stats.get('files')} files, {_size(stats.get('bytes'))}; added "
            f"{_size(stats.get('added_stored_bytes'))} stored"
        )
        for warning in snap.warnings[:10]:
            console.print(f"  [yellow]warning[/] {warning}")
        for e in entries:
            kind = {EntryType.DIR: "d", EntryType.FILE: "-", EntryType.SYMLINK: "l"}[e.type]
            suffix = f" -> {e.link_target}" if e.link_target else ""
            console.print(
                f"{kind}{e.mode:04o} {_size(e.size) if e.type is EntryType.FILE else '':>10}"
                f"  /{e.path}{suffix}"
            )


def diff(
    ctx: typer.Context,
    before: Annotated[str, typer.Argument(help="Older snapshot id (prefix).")],
    after: Annotated[str, typer.Argument(help="Newer snapshot id (prefix) or `latest`.")],
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two snapshots."""
    from clawkeeper.backup.diff import diff_snapshots

    with recorded(ctx, "backup diff", {"before": before, "after": after}) as app_ctx:
        repository = _open_repo(app_ctx, repo, key_file)
        result = diff_snapshots(
            repository, resolve_snapshot_id(repository, before), resolve_snapshot_id(repository, after)
        )
        if as_json:
            emit_json("backup.diff", result.to_json())
            return
        marks = {
            "added": "[green]+[/]",
            "removed": "[red]-[/]",
            "modified": "[yellow]M[/]",
            "type": "[yellow]T[/]",
            "metadata": "[blue]U[/]",
        }
        for change in result.changes:
            detail = f"  ({change.detail})" if change.detail else ""
            console.print(f"{marks[change.kind]} /{change.path}{detail}")
        summary = result.to_json()["summary"]
        console.print(", ".join(f"{v} {k}" for k, v in summary.items()))


# verify ------------------------------------------------------------------------------------------------
def _parse_percent(text: str) -> float:
    raw = text.strip().rstrip("%")
    try:
        value = float(raw)
    except ValueError as exc:
        raise UsageError(f"--sample {text!r} is not a percentage", hint="use e.g. --sample 10%") from exc
    if not 0 < value <= 100:
        raise UsageError("--sample must be between 0% and 100%")
    return value


def verify(
    ctx: typer.Context,
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    read_data: Annotated[bool, typer.Option("--read-data", help="Read back and check every pack.")] = False,
    sample: Annotated[
        str | None,
        typer.Option("--sample", help="Read back N% of the packs, continuing last run's rotation."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the repository: structure always; data with --read-data or --sample N%."""
    import platformdirs

    from clawkeeper.backup.verify import VerifyOptions, verify_repository

    if read_data and sample:
        raise UsageError(
            "--read-data and --sample exclude each other", hint="--read-data already reads everything"
        )
    percent = _parse_percent(sample) if sample else None
    with recorded(ctx, "backup verify", {"read_data": read_data, "sample": sample}) as app_ctx:
        repository = _open_repo(app_ctx, repo, key_file)
        cursor = None
        if percent is not None:
            cursor = (
                Path(platformdirs.user_cache_dir("clawkeeper"))
                / "backup"
                / (f"verify-cursor-{repository.config.repo_id}.json")
            )
        options = VerifyOptions(read_data=read_data, sample_percent=percent, cursor_file=cursor)
        with _progress(not as_json) as cb:
            report = verify_repository(repository, options, cb)
        if as_json:
            emit_json("backup.verify", report.to_json())
        else:
            style = "green" if report.outcome.ok else "red"
            console.print(
                f"[{style}]{report.outcome.verdict.value}[/]: {report.mode} check, {report.snapshots} "
                f"snapshots, {report.packs} packs, {report.packs_read} read ({_size(report.bytes_read)})"
            )
            for pack, reason in report.damaged_packs.items():
                console.print(f"  [red]pack[/] {pack[:12]}: {reason}")
            for item in report.damaged_files[:50]:
                console.print(
                    f"  [red]file[/] snapshot {item['snapshot']}: /{item['path']} ({item['reason']})"
                )
            if report.damaged_snapshots:
                console.print(
                    f"  [red]damaged snapshots[/]: {', '.join(s[:8] for s in report.damaged_snapshots)}"
                )
                console.print(
                    f"  intact snapshots: {', '.join(s[:8] for s in report.intact_snapshots) or 'none'}"
                )
            for problem in report.problems:
                if problem.kind in ("index", "mark"):
                    console.print(f"  [red]{problem.kind}[/] {problem.message}")
            for note in report.notes:
                console.print(f"  note: {note}")
        if not report.outcome.ok:
            raise VerificationFailed(
                report.outcome.reason, hint="see the report; damaged snapshots are listed"
            )


# restore -----------------------------------------------------------------------------------------------
def restore(
    ctx: typer.Context,
    snapshot: Annotated[str, typer.Argument(help="Snapshot id (prefix) or `latest`.")] = "latest",
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    to: Annotated[
        Path | None, typer.Option("--to", "--into", help="A new or empty folder to restore into.")
    ] = None,
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Restore only this path (repeatable).")
    ] = None,
    in_place: Annotated[
        bool,
        typer.Option("--in-place", help="Overwrite the live files (gateway stopped; safety snapshot first)."),
    ] = False,
    confirm: Annotated[
        str | None,
        typer.Option("--confirm", help="For --in-place without a terminal: the snapshot's short id."),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Live state dir (for the safety snapshot).")
    ] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Skip quick_check of restored databases.")
    ] = False,
    openclaw_archive_only: Annotated[
        bool,
        typer.Option(
            "--openclaw-archive-only",
            help="Restore only OpenClaw's own archive, as DIR/<name> (for `openclaw backup restore`).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a snapshot into a fresh folder (default) or, with --in-place, over the live state."""
    from clawkeeper.backup.restore import RestoreOptions, restore_snapshot

    if in_place and to is not None:
        raise UsageError("--in-place and --to exclude each other")
    if openclaw_archive_only and (in_place or path):
        raise UsageError(
            "--openclaw-archive-only restores one file into --to DIR; it excludes --in-place and --path"
        )
    if not in_place and to is None:
        raise UsageError("restore needs --to DIR (a new folder), or --in-place", hint="prefer a fresh folder")
    args = {
        "snapshot": snapshot,
        "to": str(to) if to else None,
        "paths": path or [],
        "in_place": in_place,
        "openclaw_archive_only": openclaw_archive_only,
    }
    with recorded(ctx, "backup restore", args) as app_ctx:
        repository = _open_repo(app_ctx, repo, key_file)
        snapshot_id = resolve_snapshot_id(repository, snapshot)
        if openclaw_archive_only:
            assert to is not None  # noqa: S101 - checked above
            _restore_openclaw_archive(app_ctx, repository, snapshot_id, to, as_json)
            return
        safety_sources = None
        if in_place:
            snap = load_snapshot(repository, snapshot_id)
            _confirm_in_place(snap.short_id, confirm)
            roots = [Path(r["path"]) for r in snap.roots]
            if state_dir is not None:
                roots = [state_dir, *roots]
            safety_sources = plain_sources(roots)
        options = RestoreOptions(
            target=to,
            paths=tuple(path or []),
            in_place=in_place,
            check_databases=not no_check,
            safety_sources=safety_sources,
        )
        assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
        intent = {"snapshot": snapshot_id, "to": str(to) if to else "in place", "paths": path or []}
        with app_ctx.ledger.step(app_ctx.run_id, "restore", intent) as detail, _progress(not as_json) as cb:
            result = restore_snapshot(repository, snapshot_id, options, cb)
            detail.update(
                {
                    "files": result.files,
                    "bytes": result.bytes,
                    "databases": result.databases,
                    "safety_snapshot": result.safety_snapshot,
                }
            )
        if as_json:
            emit_json("backup.restore", result.to_json())
        else:
            console.print(
                f"Restored snapshot {snapshot_id[:8]}: {result.files} files, {result.dirs} dirs, "
                f"{result.symlinks} symlinks, {_size(result.bytes)}"
            )
            if result.safety_snapshot:
                console.print(f"Safety snapshot of the previous state: {result.safety_snapshot[:8]}")
            for original, restored in result.roots.items():
                if not in_place:
                    console.print(f"  {original} -> {restored}")
            for db, check in result.databases.items():
                style = "green" if check == "ok" else "red"
                console.print(f"  database /{db}: [{style}]{check}[/]")
            for warning in result.warnings:
                err_console.print(f"[yellow]warning:[/] {warning}")
            archive = load_snapshot(repository, snapshot_id).meta.get("openclaw_archive")
            if not in_place and isinstance(archive, dict) and result.files:
                console.print(f"  OpenClaw's own archive -> {result.target}/{archive.get('path')}")
        if not result.ok:
            raise VerificationFailed(
                "a restored database failed its quick_check", hint="see the report above"
            )


def _restore_openclaw_archive(
    app_ctx: AppContext, repository: Repository, snapshot_id: str, to: Path, as_json: bool
) -> None:
    from clawkeeper.backup.openclaw_archive import restore_archive

    assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
    intent = {"snapshot": snapshot_id, "to": str(to), "openclaw_archive_only": True}
    with app_ctx.ledger.step(app_ctx.run_id, "restore", intent) as detail, _progress(not as_json) as cb:
        restored = restore_archive(repository, snapshot_id, to, cb)
        detail.update({"file": str(restored.file), **restored.info.to_json()})
    if as_json:
        emit_json("backup.restore.openclaw_archive", restored.to_json())
        return
    info = restored.info
    console.print(
        f"Restored OpenClaw's own archive from snapshot {snapshot_id[:8]}: {restored.file} "
        f"({_size(info.size)}, sha256 matches, OpenClaw {info.openclaw_version or 'unknown'})"
    )
    console.print(
        f"  check it: openclaw backup verify {restored.file}\n"
        f"  stage it: openclaw backup restore {restored.file} --target <new folder>"
    )


def _confirm_in_place(short_id: str, confirm: str | None) -> None:
    if confirm is not None:
        if confirm != short_id:
            raise UsageError(f"--confirm {confirm!r} does not match snapshot {short_id}")
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "--in-place needs a typed confirmation", hint=f"pass --confirm {short_id} to confirm"
        )
    typed = typer.prompt(f"This overwrites the live files. Type {short_id} to continue", err=True)
    if typed.strip() != short_id:
        raise UsageError("confirmation did not match; nothing was changed")


# forget / prune ----------------------------------------------------------------------------------------
def _parse_duration(text: str) -> timedelta:
    units = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}
    total = 0.0
    number = ""
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            raise UsageError(f"duration {text!r} is not like 1y2m3d4h", hint="units: y m w d h")
    if number:
        raise UsageError(f"duration {text!r} needs a unit (h, d, w, m, y)")
    return timedelta(seconds=total)


def forget(
    ctx: typer.Context,
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    keep_last: Annotated[int | None, typer.Option("--keep-last", help="Keep the N newest snapshots.")] = None,
    keep_hourly: Annotated[
        int | None, typer.Option("--keep-hourly", help="Keep N hourly snapshots (-1: all).")
    ] = None,
    keep_daily: Annotated[int | None, typer.Option("--keep-daily", help="Keep N daily snapshots.")] = None,
    keep_weekly: Annotated[int | None, typer.Option("--keep-weekly", help="Keep N weekly snapshots.")] = None,
    keep_monthly: Annotated[
        int | None, typer.Option("--keep-monthly", help="Keep N monthly snapshots.")
    ] = None,
    keep_yearly: Annotated[int | None, typer.Option("--keep-yearly", help="Keep N yearly snapshots.")] = None,
    keep_within: Annotated[
        str | None, typer.Option("--keep-within", help="Keep everything this young (e.g. 2d, 1y2m).")
    ] = None,
    keep_tag: Annotated[
        list[str] | None, typer.Option("--keep-tag", help="Keep snapshots with this tag.")
    ] = None,
    group_by: Annotated[
        str, typer.Option("--group-by", help="Group by host,paths,tags (comma list).")
    ] = "host,paths",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be forgotten.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Forget snapshots by retention policy (data is reclaimed later by `prune`)."""
    from clawkeeper.backup.forget import forget_snapshots
    from clawkeeper.backup.retention import GROUP_FIELDS, RetentionPolicy

    counts = (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly)
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    if any(g not in GROUP_FIELDS for g in groups):
        raise UsageError(f"--group-by {group_by!r}: use any of {', '.join(GROUP_FIELDS)}")
    args = {"dry_run": dry_run, "keep": [c for c in counts], "within": keep_within, "group_by": groups}
    with recorded(ctx, "backup forget", args) as app_ctx:
        settings = _settings(app_ctx)
        if all(c is None for c in counts) and keep_within is None and not keep_tag:
            k = settings.keep
            policy = RetentionPolicy(k.last, k.hourly, k.daily, k.weekly, k.monthly, k.yearly)
        else:
            last, hourly, daily, weekly, monthly, yearly = (c or 0 for c in counts)
            policy = RetentionPolicy(
                last,
                hourly,
                daily,
                weekly,
                monthly,
                yearly,
                within=_parse_duration(keep_within) if keep_within else None,
                tags=frozenset(keep_tag or []),
            )
        if policy.empty:
            raise UsageError("the policy keeps nothing", hint="give at least one --keep-* option")
        repository = _open_repo(app_ctx, repo, key_file)
        tz = datetime.now().astimezone().tzinfo
        assert tz is not None and app_ctx.run_id is not None  # noqa: S101 - always set
        with app_ctx.ledger.step(
            app_ctx.run_id, "forget", {"policy": policy.describe(), "dry_run": dry_run}
        ) as d:
            result = forget_snapshots(repository, policy, group_by=groups, dry_run=dry_run, tz=tz)
            d["removed"] = result.removed
        if as_json:
            emit_json("backup.forget", result.to_json())
            return
        console.print(f"policy: {result.policy}")
        for decision in result.decisions:
            s = decision.snapshot
            if decision.keep:
                console.print(
                    f"  keep   {s.id[:8]}  {s.time.astimezone():%Y-%m-%d %H:%M}"
                    f"  {', '.join(decision.reasons)}"
                )
            else:
                verb = "would forget" if dry_run else "forget"
                console.print(f"  [red]{verb}[/] {s.id[:8]}  {s.time.astimezone():%Y-%m-%d %H:%M}")
        console.print(
            f"{len(result.kept)} kept, {len(result.forgotten)} {'to forget' if dry_run else 'forgotten'}"
            + ("" if dry_run else "; run `clawkeeper backup prune` to reclaim space")
        )


def prune(
    ctx: typer.Context,
    repo: RepoOpt = None,
    key_file: KeyFileOpt = None,
    grace: Annotated[
        str | None,
        typer.Option("--grace", help="Delete marked data only when the mark is this old (e.g. 1h, 0h)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be marked and deleted.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Reclaim space in two phases: delete what an earlier prune marked, then mark what is unused now."""
    from clawkeeper.backup.prune import PruneOptions, prune_repository

    with recorded(ctx, "backup prune", {"grace": grace, "dry_run": dry_run}) as app_ctx:
        settings = _settings(app_ctx)
        grace_s = _parse_duration(grace).total_seconds() if grace else settings.prune_grace_hours * 3600
        repository = _open_repo(app_ctx, repo, key_file)
        options = PruneOptions(grace_s=grace_s, repack_below=settings.repack_below, dry_run=dry_run)
        assert app_ctx.run_id is not None  # noqa: S101 - set by recorded()
        with (
            app_ctx.ledger.step(app_ctx.run_id, "prune", {"grace_s": grace_s, "dry_run": dry_run}) as detail,
            _progress(not as_json) as cb,
        ):
            result = prune_repository(repository, options, cb)
            detail.update(result.to_json())
        if as_json:
            emit_json("backup.prune", result.to_json())
            return
        would = "would " if dry_run else ""
        console.print(f"{result.snapshots} snapshots reference {result.referenced_blobs} chunks")
        if result.swept_marks:
            console.print(
                f"{would}delete {result.deleted_packs} packs ({_size(result.deleted_bytes)}) marked earlier; "
                f"{result.rescued_packs} rescued because a newer snapshot needs them"
            )
        for mark, why in result.postponed_marks.items():
            console.print(f"mark {mark[:8]} waits: {why}")
        if result.marked_packs:
            console.print(
                f"{would}mark {result.marked_packs} packs (~{_size(result.marked_bytes)}) for deletion by a "
                "later prune"
                + (f"; {result.repacked_packs} sparse packs repacked" if result.repacked_packs else "")
            )
        elif not result.swept_marks:
            console.print("nothing to prune")
