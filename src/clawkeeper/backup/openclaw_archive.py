"""OpenClaw's own archive, kept inside a clawkeeper snapshot so OpenClaw's restore path stays open.

`openclaw backup create --verify --output DIR --json` writes a `.tar.gz` of the agent (config,
credentials, WAL-consistent SQLite copies, workspaces) and checks it before it answers. With
`backup.openclaw_archive` (or `backup create --openclaw-archive`) clawkeeper runs it into a private
staging folder, checks that the archive is there and verified, stores it in the same snapshot
under `.openclaw-archive/<name>` — without zstd, since gzip data does not shrink again — and
records its name, size, SHA-256 and the OpenClaw version in `meta["openclaw_archive"]`. The
staging folder is deleted afterwards; while it exists it is 0700 and the archive 0600, because
the archive holds the agent's credentials.

Where the staging folder lives: in the system temp dir (or `backup.scratch_dir`) when OpenClaw's
CLI runs in our own mount namespace, and next to the state dir when it runs in another one — a
lab instance has a private /tmp, where a folder of ours would not be visible.

`restore_archive` puts the archive of a snapshot back as one file, which `openclaw backup verify`
and `openclaw backup restore` accept as they would the original.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.outputs import failure_message
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.backup.create import BackupOptions, ExtraFile
from clawkeeper.backup.progress import ProgressCallback
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import Snapshot, load_snapshot
from clawkeeper.backup.sources import SourceSet
from clawkeeper.effects import proc
from clawkeeper.errors import (
    AgentProtocolError,
    CommandFailed,
    EnvironmentProblem,
    IntegrityError,
    NotFound,
    OperationTimeout,
)

ARCHIVE_DIR = ".openclaw-archive"  # the snapshot folder that holds the archive
META_KEY = "openclaw_archive"  # snapshot meta: name, path, size, sha256, openclaw_version, created_at
CREATE_TIMEOUT_S = 600.0
STAGING_PREFIX = ".clawkeeper-openclaw-archive-"
_READ_SIZE = 1 << 20


@dataclass(frozen=True)
class StoredArchive:
    """What a snapshot records about the archive it holds."""

    name: str  # the file name OpenClaw gave it
    size: int
    sha256: str
    openclaw_version: str | None = None
    created_at: str | None = None  # OpenClaw's `createdAt`

    @property
    def path(self) -> str:
        """Where it lies in the snapshot (restore `--path` takes this)."""
        return f"{ARCHIVE_DIR}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "openclaw_version": self.openclaw_version,
            "created_at": self.created_at,
        }

    @classmethod
    def of(cls, snapshot: Snapshot) -> StoredArchive | None:
        """The archive a snapshot holds, or None. A malformed record is damage, not absence."""
        raw = snapshot.meta.get(META_KEY)
        if raw is None:
            return None
        try:
            name = str(raw["name"])
            found = cls(
                name=name,
                size=int(raw["size"]),
                sha256=str(raw["sha256"]),
                openclaw_version=raw.get("openclaw_version"),
                created_at=raw.get("created_at"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"snapshot {snapshot.short_id} has a malformed {META_KEY} record") from exc
        if not _plain_name(name) or raw.get("path", found.path) != found.path:
            raise IntegrityError(f"snapshot {snapshot.short_id} names an unusable archive {name!r}")
        return found


@dataclass(frozen=True)
class ArchiveReady:
    """OpenClaw wrote and verified its archive; it waits in the staging folder to be stored."""

    file: Path
    info: StoredArchive
    duration_s: float
    warnings: tuple[str, ...] = ()  # what OpenClaw itself warned about (opaque SQLite copies, ...)

    def extra_file(self) -> ExtraFile:
        return ExtraFile(self.file, self.info.path, compress=False)


@dataclass(frozen=True)
class ArchiveSkipped:
    """No archive: why, in one line (with the tail of OpenClaw's own error when it failed)."""

    reason: str

    @property
    def warning(self) -> str:
        return f"OpenClaw's own archive was not stored: {self.reason}"


ArchiveOutcome = ArchiveReady | ArchiveSkipped


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def file_digest(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb", buffering=0) as handle:
        while piece := handle.read(_READ_SIZE):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


def _is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _staging_parent(target: OpenClawTarget, scratch_dir: Path | None) -> Path | None:
    """Where the staging folder goes (None: the system temp dir). Raises _Skip."""
    if target.exec_prefix:
        # the CLI runs in other namespaces: our /tmp is not its /tmp, but the state dir's
        # parent is the same folder on both sides (the lab keeps its tree visible)
        if target.state_dir is None:
            raise _Skip(f"{target.label} runs in its own namespaces and its state dir is unknown")
        return target.state_dir.parent
    parent = scratch_dir.expanduser() if scratch_dir is not None else Path(tempfile.gettempdir())
    if target.state_dir is not None and _is_within(parent.resolve(), target.state_dir.resolve()):
        raise _Skip(f"the staging folder {parent} lies inside the state dir; move backup.scratch_dir")
    return parent


class _Skip(Exception):
    """Internal: why there is no archive; `openclaw_archive` turns it into ArchiveSkipped."""


def _locate(doc: Any, staging: Path) -> Path:
    """The archive OpenClaw wrote: `archivePath` from its JSON, else the one .tar.gz in staging."""
    if isinstance(doc, dict) and isinstance(doc.get("archivePath"), str):
        archive = Path(doc["archivePath"])
    else:
        found = sorted(staging.glob("*.tar.gz"))
        if len(found) != 1:
            raise _Skip(f"OpenClaw reported success but left {len(found)} archives in {staging}")
        archive = found[0]
    if archive.parent.resolve() != staging.resolve() or not _plain_name(archive.name):
        raise _Skip(f"OpenClaw wrote its archive to {archive}, not into {staging} as asked")
    try:
        st = archive.lstat()
    except OSError as exc:
        raise _Skip(f"the archive {archive} OpenClaw reported does not exist ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise _Skip(f"the archive {archive} OpenClaw reported is not a regular file")
    return archive


def _error_of(result: proc.CommandResult) -> str:
    """OpenClaw's own reason: its JSON failure envelope on stdout (`{"ok": false, "error": ...}`),
    else the `Reason:` line of its stderr, else the tail of what it printed."""
    with contextlib.suppress(AgentProtocolError):
        message = failure_message(proc.parse_json_output(result.stdout, what="openclaw backup create"))
        if message is not None:
            return message
    for line in result.stderr.splitlines():
        _, found, reason = line.partition("Reason:")
        if found and reason.strip():
            return reason.strip()
    return result.stderr_tail()


def _make(
    target: OpenClawTarget, staging: Path, openclaw_version: str | None, timeout: float
) -> ArchiveReady:
    argv = target.argv("backup", "create", "--verify", "--output", str(staging), "--json")
    try:
        result = proc.run(argv, timeout=timeout, env=target.process_env())
    except (EnvironmentProblem, OperationTimeout) as exc:
        raise _Skip(exc.message) from exc
    if not result.ok:
        raise _Skip(f"`openclaw backup create` exited {result.returncode}: {_error_of(result)}")
    doc: Any = None
    with contextlib.suppress(AgentProtocolError):  # no JSON: find the archive by its folder
        doc = proc.parse_json_output(result.stdout, what="openclaw backup create --json")
    archive = _locate(doc, staging)
    archive.chmod(0o600)  # OpenClaw writes 0600 already; make sure, it holds credentials
    # With --verify OpenClaw exits non-zero when verification fails; its JSON says so too.
    if isinstance(doc, dict) and doc.get("verified") is not True:
        raise _Skip("OpenClaw did not report the archive as verified")
    size, sha256 = file_digest(archive)
    created = doc.get("createdAt") if isinstance(doc, dict) else None
    warnings = doc.get("warnings") if isinstance(doc, dict) else None
    info = StoredArchive(
        name=archive.name,
        size=size,
        sha256=sha256,
        openclaw_version=openclaw_version,
        created_at=created if isinstance(created, str) else None,
    )
    return ArchiveReady(
        file=archive,
        info=info,
        duration_s=round(result.duration_s, 3),
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )


def _remove(staging: Path) -> None:
    try:
        shutil.rmtree(staging)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise EnvironmentProblem(
            f"could not remove {staging}, which holds a copy of the agent's credentials: {exc.strerror}",
            hint=f"delete it by hand (rm -r {staging}); the snapshot itself is fine",
        ) from exc


@contextlib.contextmanager
def openclaw_archive(
    target: OpenClawTarget,
    *,
    required: bool,
    openclaw_version: str | None = None,
    timeout: float = CREATE_TIMEOUT_S,
    scratch_dir: Path | None = None,
) -> Iterator[ArchiveOutcome]:
    """Make OpenClaw's verified archive in a private staging folder, removed on exit.

    Yields ArchiveReady, or ArchiveSkipped when OpenClaw could not make it — unless `required`,
    which raises CommandFailed instead (one line, ending with OpenClaw's own error)."""
    staging: Path | None = None
    outcome: ArchiveOutcome
    try:
        try:
            parent = _staging_parent(target, scratch_dir)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))  # 0700
            outcome = _make(target, staging, openclaw_version, timeout)
        except _Skip as exc:
            outcome = ArchiveSkipped(str(exc))
        except OSError as exc:
            outcome = ArchiveSkipped(f"cannot stage the archive: {exc.strerror} ({exc.filename})")
        if required and isinstance(outcome, ArchiveSkipped):
            raise CommandFailed(
                f"OpenClaw's own archive could not be made, so no snapshot was taken: {outcome.reason}",
                hint="fix the cause, or back up without --openclaw-archive",
            )
        yield outcome
    finally:
        if staging is not None:
            _remove(staging)


def attach(
    outcome: ArchiveOutcome, sources: SourceSet, options: BackupOptions
) -> tuple[SourceSet, BackupOptions]:
    """The sources and options of a snapshot that holds the archive (or warns that it does not)."""
    if isinstance(outcome, ArchiveSkipped):
        return dataclasses.replace(sources, warnings=(*sources.warnings, outcome.warning)), options
    notes = tuple(f"openclaw backup: {w}" for w in outcome.warnings)
    return (
        dataclasses.replace(sources, warnings=(*sources.warnings, *notes)),
        dataclasses.replace(
            options,
            meta={**options.meta, META_KEY: outcome.info.to_json()},
            extra_files=(*options.extra_files, outcome.extra_file()),
        ),
    )


@dataclass(frozen=True)
class ArchiveRestored:
    snapshot: str
    file: Path
    info: StoredArchive

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "file": str(self.file), "archive": self.info.to_json(), "ok": True}


def stored_archive(snapshot: Snapshot) -> StoredArchive:
    """The archive of a snapshot; NotFound when it holds none."""
    info = StoredArchive.of(snapshot)
    if info is None:
        raise NotFound(
            f"snapshot {snapshot.short_id} holds no OpenClaw archive",
            hint="snapshots made with --openclaw-archive (or backup.openclaw_archive = true) hold one",
        )
    return info


def restore_archive(
    repo: Repository, snapshot_id: str, target: Path, progress: ProgressCallback | None = None
) -> ArchiveRestored:
    """Write the snapshot's OpenClaw archive as `target/<name>` (target: a new or empty folder),
    then check it has the size and SHA-256 recorded when OpenClaw had just verified it."""
    snapshot = load_snapshot(repo, snapshot_id)
    info = stored_archive(snapshot)
    result = restore_snapshot(
        repo,
        snapshot.id,
        RestoreOptions(target=target, paths=(info.path,), check_databases=False),
        progress,
    )
    root = Path(result.target)
    final = root / info.name
    (root / info.path).rename(final)
    (root / ARCHIVE_DIR).rmdir()
    size, sha256 = file_digest(final)
    if (size, sha256) != (info.size, info.sha256):
        raise IntegrityError(
            f"the restored archive {final} differs from the one OpenClaw verified "
            f"({size} bytes, sha256 {sha256[:16]}…; expected {info.size} bytes, {info.sha256[:16]}…)",
            hint="run `clawkeeper backup verify --read-data` and restore from another snapshot",
        )
    return ArchiveRestored(snapshot=snapshot.id, file=final, info=info)
