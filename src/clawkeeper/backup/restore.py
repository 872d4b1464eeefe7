"""Restoring a snapshot: into a fresh folder by default, in place only when asked and safe.

A repository is input, not trusted code: before anything is written the whole tree is checked,
and a snapshot with an absolute path, a `..` component, or an entry below one of its own
symlinks is refused outright. Writing then walks directories by file descriptor with
O_NOFOLLOW, so no path component can be a symlink — neither one the snapshot made nor one
that was already on disk — and nothing lands outside the target.

Files keep their permission bits (secrets stay 0600) and mtimes; owners are kept when running as
root. Every chunk is authenticated against its id as it is read (AES-GCM binds the id; without
encryption the id is recomputed). Restored SQLite databases get a
`quick_check`, and in-place restores delete stale `-wal`/`-shm` sidecars, which would otherwise
be replayed over the restored pages.

In place (`in_place=True`) writes over the original paths: refused while any process holds a
file open below the snapshot's roots (the gateway must be stopped), and preceded by a safety
snapshot of the current state, whose id is returned so the restore itself can be undone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.backup import restore_lanes
from clawkeeper.backup.create import BackupOptions, create_snapshot
from clawkeeper.backup.progress import ProgressCallback, Reporter
from clawkeeper.backup.repository import BlobCorrupt, Repository
from clawkeeper.backup.restore_files import OpenFile, write_files
from clawkeeper.backup.restore_list import EntryList, subset
from clawkeeper.backup.snapshots import Snapshot, iter_tree, load_snapshot
from clawkeeper.backup.sources import SourceSet
from clawkeeper.backup.sqlite_capture import SIDECAR_SUFFIXES, integrity_check
from clawkeeper.backup.tree import Entry, EntryType
from clawkeeper.errors import IntegrityError, ResourceConflict, UsageError

MAX_DIR_FDS = 128
Advance = Callable[[int, int, str], None]  # bytes, items, current path
TEMP_PREFIX = ".clawkeeper-restore-"


@dataclass(frozen=True)
class RestoreOptions:
    target: Path | None = None  # a fresh (missing or empty) folder; None only with in_place
    paths: tuple[str, ...] = ()  # restore only these paths (and what lies below them)
    in_place: bool = False
    check_databases: bool = True
    keep_owners: bool | None = None  # None: keep them when running as root
    safety_sources: SourceSet | None = None  # required for in_place: what the safety snapshot holds


@dataclass
class RestoreResult:
    snapshot: str
    target: str
    in_place: bool
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    databases: dict[str, str] = field(default_factory=dict)  # path -> quick_check result
    roots: dict[str, str] = field(default_factory=dict)  # original root -> where it was restored
    safety_snapshot: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.databases.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "target": self.target,
            "in_place": self.in_place,
            "files": self.files,
            "dirs": self.dirs,
            "symlinks": self.symlinks,
            "bytes": self.bytes,
            "databases": self.databases,
            "roots": self.roots,
            "safety_snapshot": self.safety_snapshot,
            "warnings": self.warnings,
            "ok": self.ok,
        }


def unsafe_reason(path: str) -> str | None:
    """Why a snapshot path may not be restored, or None when it is a plain relative path."""
    if not path:
        return "empty path"
    if "\x00" in path:
        return "NUL byte in path"
    if path.startswith("/"):
        return "absolute path"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "'.', '..' or empty component"
    return None


def _selected(path: str, wanted: Sequence[str]) -> bool:
    if not wanted:
        return True
    return any(path == w or path.startswith(w + "/") for w in wanted)


def _normalise_selection(paths: Sequence[str]) -> list[str]:
    out = []
    for raw in paths:
        text = raw.strip().rstrip("/").lstrip("/")
        if not text or unsafe_reason(text):
            raise UsageError(
                f"--path {raw!r} is not a usable path", hint="give a path as shown by `backup show`"
            )
        out.append(text)
    return out


def plan_entries(entries: Iterable[Entry], wanted: Sequence[str]) -> EntryList:
    """The entries to restore, after refusing the whole snapshot if any path is unsafe. They
    are spooled to disk, not held (see restore_list)."""
    links: set[str] = set()
    chosen = EntryList()
    for entry in entries:
        reason = unsafe_reason(entry.path)
        if reason is None:
            parts = entry.path.split("/")
            for depth in range(1, len(parts)):
                if "/".join(parts[:depth]) in links:
                    reason = "it lies below a symlink in the same snapshot"
                    break
        if reason is not None:
            raise IntegrityError(
                f"the snapshot holds an unsafe path {entry.path!r} ({reason}); nothing was restored",
                hint="this snapshot was not written by clawkeeper as stored; verify the repository",
            )
        if entry.type is EntryType.SYMLINK:
            links.add(entry.path)
        if _selected(entry.path, wanted):
            chosen.append(entry)
    return chosen


def busy_processes(roots: Sequence[Path], proc_root: Path = Path("/proc")) -> list[str] | None:
    """Processes holding a file open below any of `roots` ("pid name"), e.g. a running gateway.

    Reads /proc/<pid>/fd directly; None when /proc is not there and nobody can tell.
    """
    if not proc_root.is_dir():
        return None
    prefixes = tuple(str(r).rstrip("/") + "/" for r in roots)
    busy: list[str] = []
    for pid_dir in proc_root.iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) == os.getpid():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue  # gone, or not ours to inspect
        for fd in fds:
            try:
                opened = os.readlink(fd)  # noqa: PTH115 - the raw link text is the open path
            except OSError:
                continue
            if opened.startswith(prefixes):
                try:
                    name = (pid_dir / "comm").read_text().strip()
                except OSError:
                    name = "?"
                busy.append(f"{pid_dir.name} {name}")
                break
    return busy


class DirFds:
    """Directory file descriptors below a root, opened component by component with O_NOFOLLOW."""

    def __init__(self, root_fd: int, create_mode: int = 0o700) -> None:
        self.root_fd = root_fd
        self.create_mode = create_mode
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()

    def get(self, parts: tuple[str, ...]) -> int:
        if not parts:
            return self.root_fd
        fd = self._fds.get(parts)
        if fd is not None:
            self._fds.move_to_end(parts)
            return fd
        parent = self.get(parts[:-1])
        name = parts[-1]
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, self.create_mode, dir_fd=parent)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as exc:
            raise IntegrityError(
                f"refusing to restore through {'/'.join(parts)}: it is a symlink or not a directory",
                hint="restore into a fresh folder",
            ) from exc
        self._fds[parts] = fd
        while len(self._fds) > MAX_DIR_FDS:
            _parts, old = self._fds.popitem(last=False)
            os.close(old)
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class _Restorer:
    def __init__(self, repo: Repository, snapshot: Snapshot, options: RestoreOptions, root: Path) -> None:
        self.repo = repo
        self.snapshot = snapshot
        self.options = options
        self.root = root
        self.in_place = options.in_place
        self.keep_owners = options.keep_owners if options.keep_owners is not None else os.geteuid() == 0
        self.result = RestoreResult(snapshot=snapshot.id, target=str(root), in_place=options.in_place)

    def run(self, entries: Sequence[Entry], progress: ProgressCallback | None) -> RestoreResult:
        links: list[Entry] = []
        made_dirs: list[Entry] = []
        file_indices: list[int] = []
        databases: list[str] = []
        total = 0
        for i, entry in enumerate(entries):  # sorted out once; the files stay where they are
            if entry.type is EntryType.DIR:
                made_dirs.append(entry)
            elif entry.type is EntryType.FILE:
                file_indices.append(i)
                total += entry.size
                if entry.is_sqlite:
                    databases.append(entry.path)
            else:
                links.append(entry)
        files = subset(entries, file_indices)
        del file_indices
        reporter = Reporter(progress, "restore", total_bytes=total, total_items=len(entries))
        root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        dirs = DirFds(root_fd)
        try:
            for entry in made_dirs:
                dirs.get(tuple(entry.path.split("/")))
                self.result.dirs += 1
                reporter.advance(items=1, current=entry.path)
            self._write_files(files, dirs, reporter)
            for entry in links:
                parts = tuple(entry.path.split("/"))
                self._symlink(dirs.get(parts[:-1]), parts[-1], entry)
                reporter.advance(items=1, current=entry.path)
            # deepest first, so a read-only parent never blocks setting its children
            for entry in reversed(made_dirs):
                fd = dirs.get(tuple(entry.path.split("/")))
                self._set_meta_fd(fd, entry)
            reporter.finish()
        finally:
            dirs.close()
            os.close(root_fd)
        if self.options.check_databases:  # those not checked as soon as they were written
            checked = self.result.databases
            for path in databases:
                if path not in checked:
                    checked[path] = integrity_check(self.root / path, quick=True)
        for root in self.snapshot.roots:
            self.result.roots[root["path"]] = str(self.root / root["path"].lstrip("/"))
        return self.result

    def _write_files(self, files: Sequence[Entry], dirs: DirFds, reporter: Reporter) -> None:
        """Write the files' contents, in two forked processes on a local repository (see
        `restore_lanes`). In place, each file is written under a temporary name and all of them
        replace the originals only once every file is complete and synced (`_swap_in`)."""
        if restore_lanes.worth_forking(self.repo, files):
            swaps = restore_lanes.write_in_two_processes(self, files, dirs, reporter)
        else:
            swaps = self.write_lane(files, dirs, reporter.advance)
        if swaps:
            self._swap_in(swaps, dirs)

    def write_lane(self, files: Sequence[Entry], dirs: DirFds, advance: Advance) -> list[tuple[Entry, str]]:
        """This thread creates `files` in order; workers fetch, check and write their chunks
        (`restore_files`). `advance(bytes, items, current)` is told of each finished file.
        Returns the in-place swaps (entry, temporary name); on failure nothing of this lane is
        left under a temporary name."""
        temps: dict[int, str] = {}  # id(entry) -> temporary name (in place only)
        swaps: list[tuple[Entry, str]] = []

        def where(entry: Entry) -> tuple[int, str]:
            parts = tuple(entry.path.split("/"))
            return dirs.get(parts[:-1]), temps.get(id(entry), parts[-1])

        def create(entry: Entry) -> int:
            if self.in_place:
                temps[id(entry)] = f"{TEMP_PREFIX}{secrets.token_hex(6)}"
            parent_fd, name = where(entry)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                return os.open(name, flags, 0o600, dir_fd=parent_fd)
            except FileExistsError as exc:
                raise UsageError(
                    f"{self.root / entry.path} already exists", hint="restore into a fresh, empty folder"
                ) from exc

        def abandon(opened: OpenFile) -> None:
            with contextlib.suppress(OSError):
                os.close(opened.fd)
            with contextlib.suppress(OSError):
                parent_fd, name = where(opened.entry)
                os.unlink(name, dir_fd=parent_fd)

        def finish(opened: OpenFile) -> None:
            entry = opened.entry
            try:
                if opened.written != entry.size:
                    raise BlobCorrupt(
                        f"{entry.path}: restored {opened.written} bytes, the snapshot says {entry.size}"
                    )
                self._set_meta_fd(opened.fd, entry)
            except BaseException:
                abandon(opened)
                raise
            os.close(opened.fd)
            if self.in_place:
                swaps.append((entry, temps[id(entry)]))
            elif entry.is_sqlite and self.options.check_databases:
                # its quick_check runs beside the files still being written (SQLite drops the GIL)
                checks[entry.path] = checker.submit(integrity_check, self.root / entry.path, quick=True)
            self.result.files += 1
            self.result.bytes += opened.written
            advance(opened.written, 1, entry.path)

        checks: dict[str, Future[str]] = {}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="restore-check") as checker:
            try:
                write_files(self.repo, files, create, finish, abandon)
            except BaseException:
                self.discard(swaps, dirs)  # nothing replaced yet: remove the finished temporaries too
                raise
            for path, check in checks.items():
                self.result.databases[path] = check.result()
        return swaps

    def discard(self, swaps: Sequence[tuple[Entry, str]], dirs: DirFds) -> None:
        for entry, temp in swaps:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dirs.get(tuple(entry.path.split("/"))[:-1]))

    def _swap_in(self, swaps: list[tuple[Entry, str]], dirs: DirFds) -> None:
        """Replace the originals with their restored copies. Synced first, so a crash never
        leaves a renamed file whose content had not reached the disk; a crash before the renames
        leaves the originals and some `.clawkeeper-restore-*` files, during them a mix of old and
        new files (the safety snapshot holds the old state)."""
        os.sync()  # one flush for all files, instead of an fsync per file
        for entry, temp in swaps:
            parts = tuple(entry.path.split("/"))
            parent_fd = dirs.get(parts[:-1])
            os.rename(temp, parts[-1], src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
            if entry.is_sqlite:
                for suffix in SIDECAR_SUFFIXES:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(parts[-1] + suffix, dir_fd=parent_fd)
        os.sync()  # the renames themselves

    def _symlink(self, parent_fd: int, name: str, entry: Entry) -> None:
        target = entry.link_target or ""
        if self.in_place:
            temp = f"{TEMP_PREFIX}{secrets.token_hex(6)}"
            os.symlink(target, temp, dir_fd=parent_fd)
            os.rename(temp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        else:
            try:
                os.symlink(target, name, dir_fd=parent_fd)
            except FileExistsError as exc:
                raise UsageError(f"{self.root / entry.path} already exists") from exc
        with contextlib.suppress(OSError):
            os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent_fd, follow_symlinks=False)
        if self.keep_owners:
            with contextlib.suppress(OSError):
                os.chown(name, entry.uid, entry.gid, dir_fd=parent_fd, follow_symlinks=False)
        self.result.symlinks += 1

    def _set_meta_fd(self, fd: int, entry: Entry) -> None:
        if self.keep_owners:
            try:
                os.fchown(fd, entry.uid, entry.gid)
            except OSError as exc:
                self.result.warnings.append(f"{entry.path}: cannot restore owner: {exc.strerror}")
        os.fchmod(fd, stat.S_IMODE(entry.mode))
        os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))


def _fresh_target(path: Path) -> Path:
    target = path.expanduser().absolute()
    if target.exists():
        if not target.is_dir() or target.is_symlink():
            raise UsageError(f"restore target {target} is not a directory", hint="pick a new, empty folder")
        if any(target.iterdir()):
            raise UsageError(
                f"restore target {target} is not empty",
                hint="restore into a new folder; to overwrite live state use --in-place",
            )
    else:
        target.mkdir(parents=True, mode=0o700)
    return target


def restore_snapshot(
    repo: Repository,
    snapshot_id: str,
    options: RestoreOptions,
    progress: ProgressCallback | None = None,
) -> RestoreResult:
    snapshot = load_snapshot(repo, snapshot_id)
    wanted = _normalise_selection(options.paths)
    entries = plan_entries(iter_tree(repo, snapshot), wanted)
    try:
        return _restore_planned(repo, snapshot, options, entries, bool(wanted), progress)
    finally:
        entries.close()  # the spool goes now, not when garbage-collected


def _restore_planned(
    repo: Repository,
    snapshot: Snapshot,
    options: RestoreOptions,
    entries: EntryList,
    selected: bool,
    progress: ProgressCallback | None,
) -> RestoreResult:
    if selected and not entries:
        raise UsageError(
            f"snapshot {snapshot.short_id} holds nothing at {', '.join(options.paths)}",
            hint="`clawkeeper backup show` lists its paths",
        )
    if not options.in_place:
        if options.target is None:
            raise UsageError("restore needs a target folder", hint="pass --target DIR")
        return _Restorer(repo, snapshot, options, _fresh_target(options.target)).run(entries, progress)
    if options.target is not None:
        raise UsageError("--in-place and --target exclude each other")
    if options.safety_sources is None:
        raise UsageError("an in-place restore needs the live sources for its safety snapshot")
    roots = [Path(r["path"]) for r in snapshot.roots]
    busy = busy_processes(roots)
    if busy is None:
        warnings = ["could not check for running processes (no /proc); make sure the gateway is stopped"]
    else:
        warnings = []
    if busy:
        raise ResourceConflict(
            f"files below {', '.join(map(str, roots))} are open in running processes ({'; '.join(busy[:3])})",
            hint="stop the OpenClaw gateway first (`openclaw gateway stop`), then retry",
        )
    safety = create_snapshot(
        repo,
        options.safety_sources,
        BackupOptions(tags=("pre-restore",), meta={"before_restore_of": snapshot.id}),
    )
    # attachments (OpenClaw's own archive, say) are not live files: they have no place on disk
    attached = set(snapshot.meta.get("attachments") or ())
    if attached:
        entries = entries.select(i for i, e in enumerate(entries) if e.path.split("/", 1)[0] not in attached)
    restorer = _Restorer(repo, snapshot, options, Path("/"))
    restorer.result.safety_snapshot = safety.snapshot.id
    restorer.result.warnings.extend(warnings)
    return restorer.run(entries, progress)
