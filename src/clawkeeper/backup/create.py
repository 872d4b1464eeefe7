"""Taking a snapshot: walk the sources, capture databases, store new chunks, write the snapshot.

Order of writes (what makes a crash harmless): packs → index → snapshot, see `writer`. A backup
takes no lock; it registers a liveness `Session` so a concurrent prune knows to wait for it.

Files whose size, mtime, ctime and inode match the parent snapshot are not read again (the
parent's chunk list is reused, after checking every chunk is still stored in an unmarked pack).
SQLite databases are recognised by their header, captured with the backup API into a private
scratch file and cut at page boundaries; their `-wal`/`-shm`/`-journal` sidecars are not stored,
because the capture already contains every committed transaction.
"""

from __future__ import annotations

import binascii
import contextlib
import dataclasses
import getpass
import os
import socket
import stat
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, cast

from clawkeeper import __version__
from clawkeeper.backup import index_cache
from clawkeeper.backup.chunker import TREE_CHUNKER, ContentChunker, fixed_blocks
from clawkeeper.backup.compress import PAGE_LEVEL, StreamCompressor
from clawkeeper.backup.crypto import ID_SIZE
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.marks import load_marks, marked_packs
from clawkeeper.backup.packs import BlobKind, pack_object_name
from clawkeeper.backup.parent_lines import WINDOW, ParentLines
from clawkeeper.backup.plan_spool import PlanSpool
from clawkeeper.backup.progress import ProgressCallback, Reporter
from clawkeeper.backup.repository import BlobCorrupt, Repository
from clawkeeper.backup.scratch import scratch_folder
from clawkeeper.backup.sessions import Session
from clawkeeper.backup.snapshots import Snapshot, content_slices, list_snapshots, save_snapshot, tree_pieces
from clawkeeper.backup.sources import SourceRoot, SourceSet, screened
from clawkeeper.backup.sqlite_capture import (
    CapturedDatabase,
    CaptureFailed,
    capture,
    check_image,
    is_sqlite_file,
    sidecar_of,
    source_signature,
)
from clawkeeper.backup.tree import (
    HEX_ID,
    INLINE_MAX,
    LIST_BYTES,
    Entry,
    EntryType,
    file_line_head,
    keyed_lines,
    parse_tree_line,
    path_key,
)
from clawkeeper.backup.writer import BlobWriter
from clawkeeper.errors import IntegrityError, UsageError

UNCHANGED_BATCH = 256  # unchanged files whose chunks are looked up in one query
TREE_FLUSH_BYTES = 512 * 1024  # the file list is stored as it grows past this (1 GiB agents reach it too)


@dataclass(frozen=True)
class ExtraFile:
    """A file stored in the snapshot that belongs to no source root (OpenClaw's own archive, say).

    It lands at `path`, a relative snapshot path whose top folder no source root may use (its
    name is recorded in the snapshot's `meta["attachments"]`, so in-place restores skip it). It is
    always read in full (no files cache); `compress=False` skips zstd for data that is already
    compressed."""

    source: Path
    path: str  # e.g. ".openclaw-archive/2026-11-22T08-00-00.000+00-00-openclaw-backup.tar.gz"
    compress: bool = True

    @property
    def top(self) -> str:
        return self.path.split("/", 1)[0]


@dataclass(frozen=True)
class BackupOptions:
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # caller facts: openclaw_version, ...
    parent: str | None = None  # a snapshot id to compare against; None picks the latest match
    use_files_cache: bool = True  # False: read every file again
    sqlite_capture: bool = True  # False: store databases as plain files (never for live ones)
    sqlite_quick_check: bool = True
    scratch_dir: Path | None = None  # where database images are staged (default: system temp)
    index_cache: Path | None = None  # where backups keep their master index (`index_cache`)
    dry_run: bool = False
    hostname: str | None = None
    extra_files: tuple[ExtraFile, ...] = ()


@dataclass
class BackupResult:
    snapshot: Snapshot
    dry_run: bool
    warnings: list[str]
    incomplete: bool  # some files could not be read: the snapshot exists but misses them

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": None if self.dry_run else self.snapshot.id,
            "dry_run": self.dry_run,
            "time": self.snapshot.time,
            "parent": self.snapshot.parent,
            "stats": self.snapshot.stats,
            "meta": self.snapshot.meta,
            "warnings": self.warnings,
            "incomplete": self.incomplete,
        }


class _Stat(NamedTuple):
    """What a backup uses of a scanned object's lstat. An os.stat_result holds ~20 fields
    (~500 bytes); the scan keeps one per file until the backup ends."""

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_ino: int
    st_uid: int
    st_gid: int


def _kept(st: os.stat_result) -> _Stat:
    return _Stat(st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_uid, st.st_gid)


@dataclass(slots=True)
class _Planned:
    """One filesystem object found by the scan."""

    root: SourceRoot
    path: str  # absolute
    rel: str  # snapshot path: the absolute path without its leading "/"
    st: _Stat
    kind: EntryType
    sqlite: bool = False
    sig: str | None = None  # databases: fingerprint taken before the capture starts
    reuse: Entry | None = None  # databases: the parent's unchanged entry, decided before capturing
    line: bytes | None = None  # plain files: the parent's line, when this file's would be the same
    head_len: int = 0  # where the content list starts in `line`


@dataclass
class _Counters:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    bytes: int = 0
    files_reused: int = 0
    files_read: int = 0
    databases: int = 0
    databases_reused: int = 0
    excluded: int = 0
    sidecars_skipped: int = 0
    unreadable: int = 0


def snapshot_path(path: Path | str) -> str:
    return str(path).lstrip("/")


def _file_signature(st: os.stat_result | _Stat) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


# A plain file's tree line after its content list: its `_file_signature` (see `tree.Entry.to_line`)
_SIGNED_TAIL = b'","sig":"%d:%d:%d:%d"}\n'


class _ParentCache:
    """The parent snapshot's tree lines by path (`tree.path_key`), for skipping unchanged files.

    An unchanged plain file is recognised by the line it would get, compared byte for byte with
    the parent's (path, mode, mtime, owner, size and the size:mtime:ctime:inode signature), and
    the parent's line is stored again as it is; only lines that differ (changed files,
    databases) are parsed."""

    def __init__(self, lines: ParentLines, snapshot_id: str | None) -> None:
        self.lines = lines
        self.snapshot_id = snapshot_id
        self._databases: dict[str, Entry] = {}  # parsed database entries (asked for several times)
        self._last: tuple[str, Entry | None] | None = None  # and the last entry asked for

    @classmethod
    def empty(cls) -> _ParentCache:
        return cls(ParentLines(), None)

    def entry(self, rel: str) -> Entry | None:
        """The parent's entry for this file (None: not a file in the parent)."""
        if not self.lines:
            return None
        if rel in self._databases:
            return self._databases[rel]
        if self._last is not None and self._last[0] == rel:
            return self._last[1]
        line = self.lines.get(path_key(rel))
        entry = parse_tree_line(line) if line is not None else None
        if entry is not None and entry.type is not EntryType.FILE:
            entry = None
        if entry is not None and entry.sqlite is not None:
            self._databases[rel] = entry
        self._last = (rel, entry)
        return entry

    def is_database(self, rel: str, st: os.stat_result | _Stat) -> bool | None:
        """What the parent knew about this unchanged file (None: changed or new, look inside)."""
        if not self.lines:
            return None
        old = self.entry(rel)
        if old is None or old.sig is None:
            return None
        if old.sig == _file_signature(st):
            return False
        if old.sqlite is not None and old.sig.startswith(f"sqlite|{_file_signature(st)}|"):
            return True
        return None


class _Scanner:
    """Walks the roots in a stable order, applying exclusions. Never follows a symlink."""

    def __init__(
        self, sources: SourceSet, counters: _Counters, warnings: list[str], sqlite: bool, parent: _ParentCache
    ) -> None:
        self.sources = sources
        self.counters = counters
        self.warnings = warnings
        self.sqlite = sqlite
        self.parent = parent
        self.file_bytes = 0  # the sizes of the files planned

    def scan(self) -> PlanSpool[_Planned]:
        out = _plan_spool(self.sources.roots)
        try:
            self._scan(out)
        except BaseException:
            out.close()
            raise
        return out

    def _scan(self, out: PlanSpool[_Planned]) -> None:
        for root in self.sources.roots:
            path = str(root.path)
            try:
                st = os.lstat(path)
            except OSError as exc:
                self.warnings.append(f"cannot read {path}: {exc.strerror}; skipped")
                self.counters.unreadable += 1
                continue
            item = self._planned(root, path, snapshot_path(path), st)
            if item is None:
                continue
            self._add(out, item)
            if item.kind is EntryType.DIR:
                self._walk(root, path, "", out)

    def _add(self, out: PlanSpool[_Planned], item: _Planned) -> None:
        out.append(item)
        if item.kind is EntryType.FILE:
            self.file_bytes += item.st.st_size

    def _planned(self, root: SourceRoot, path: str, rel: str, st: os.stat_result) -> _Planned | None:
        """The scan's record of one object (None: skipped)."""
        mode = st.st_mode
        if stat.S_ISREG(mode):
            same = _same_file(root, path, rel, st, self.parent.lines) if self.parent.lines else None
            if same is not None:  # unchanged, and a plain file the last time too
                return same
            is_db = False
            if self.sqlite and st.st_size >= 512:
                known = self.parent.is_database(rel, st)
                is_db = known if known is not None else is_sqlite_file(Path(path))
            return _Planned(root, path, rel, _kept(st), EntryType.FILE, sqlite=is_db)
        if stat.S_ISDIR(mode):
            return _Planned(root, path, rel, _kept(st), EntryType.DIR)
        if stat.S_ISLNK(mode):
            return _Planned(root, path, rel, _kept(st), EntryType.SYMLINK)
        self.warnings.append(f"{path} is not a regular file, directory or symlink; skipped")
        return None

    def _walk(self, root: SourceRoot, directory: str, rel_dir: str, out: PlanSpool[_Planned]) -> None:
        try:
            # names only: a DirEntry keeps its stat result, and a 15,000-file sessions folder's
            # entries held 7 MB while it was walked
            with os.scandir(directory) as it:
                names = sorted(child.name for child in it)
        except OSError as exc:
            self.warnings.append(f"cannot list {directory}: {exc.strerror}; its contents are missing")
            self.counters.unreadable += 1
            return
        databases: set[str] = set()
        excludes = self.sources.excludes
        screens = (excludes.screen(root.role, False), excludes.screen(root.role, True))
        prefix = directory if directory.endswith("/") else directory + "/"
        parent_lines = self.parent.lines
        for i, name in enumerate(names):
            path = prefix + name
            if parent_lines and i % WINDOW == 0:  # the parent lines of the next names, in one query
                parent_lines.prefetch([path_key((prefix + n).lstrip("/")) for n in names[i : i + WINDOW]])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue  # vanished since the listing
            except OSError as exc:
                self.warnings.append(f"cannot stat {path}: {exc.strerror}; skipped")
                self.counters.unreadable += 1
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            rel_to_root = rel_dir + name
            if screened(screens[is_dir], name, rel_to_root, path) and excludes.match(
                root, rel_to_root, path, is_dir
            ):
                self.counters.excluded += 1
                continue
            if databases and sidecar_of(name) in databases:
                self.counters.sidecars_skipped += 1
                continue
            item = self._planned(root, path, path.lstrip("/"), st)
            if item is None:
                continue
            if item.sqlite:
                databases.add(name)
            self._add(out, item)
            if is_dir:
                self._walk(root, path, f"{rel_to_root}/", out)


def _line_chunks(item: _Planned) -> bytes | None:
    """The chunk ids in an unchanged file's parent line (None: the line is malformed)."""
    line = item.line
    if line is None:
        return None
    hexed = line[item.head_len : line.rfind(b'","sig":"')]
    if len(hexed) % HEX_ID:
        return None
    try:
        return binascii.unhexlify(hexed)
    except binascii.Error:
        return None


_KIND_CODES = {EntryType.FILE: 0, EntryType.DIR: 1, EntryType.SYMLINK: 2}
_KINDS_BY_CODE = list(_KIND_CODES)


def _plan_spool(roots: Sequence[SourceRoot]) -> PlanSpool[_Planned]:
    """A spool for the scan's items (databases stay in memory: see plan_spool)."""
    numbers = {id(root): i for i, root in enumerate(roots)}

    def pack(item: _Planned) -> tuple[int, int, str, bytes | None, int, tuple[int, ...]]:
        return (
            _KIND_CODES[item.kind],
            numbers[id(item.root)],
            item.path,
            item.line,
            item.head_len,
            tuple(item.st),
        )

    def unpack(
        kind: int, root: int, path: str, line: bytes | None, head_len: int, st: tuple[int, ...]
    ) -> _Planned:
        kept = _Stat(*st)
        return _Planned(
            roots[root], path, path.lstrip("/"), kept, _KINDS_BY_CODE[kind], False, None, None, line, head_len
        )

    return PlanSpool(pack, unpack, keep=lambda item: item.sqlite)


def _same_file(
    root: SourceRoot, path: str, rel: str, st: os.stat_result, lines: ParentLines
) -> _Planned | None:
    """A regular file whose tree line would be its parent line again, planned to reuse that line
    (the scan's hot path when little changed: nothing is parsed, two byte comparisons)."""
    mode = st.st_mode
    key = path_key(rel)
    line = lines.get(key)
    if line is None:
        return None
    size, mtime, ctime, ino, uid, gid = (
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_uid,
        st.st_gid,
    )
    head = file_line_head(key, mode & 0o7777, mtime, uid, gid, size)
    if not (line.startswith(head) and line.endswith(_SIGNED_TAIL % (size, mtime, ctime, ino))):
        return None
    kept = _Stat(mode, size, mtime, ctime, ino, uid, gid)
    return _Planned(root, path, rel, kept, EntryType.FILE, False, None, None, line, len(head))


def _find_parent(
    repo: Repository, sources: SourceSet, hostname: str, requested: str | None
) -> Snapshot | None:
    snapshots = list_snapshots(repo)
    if requested is not None:
        for snap in snapshots:
            if snap.id.startswith(requested):
                return snap
        raise UsageError(f"parent snapshot {requested} not found")
    paths = sorted(str(r.path) for r in sources.roots)
    for snap in reversed(snapshots):
        if snap.hostname == hostname and sorted(snap.paths) == paths:
            return snap
    return None


class _Captures:
    """Database captures run one ahead on a helper thread (the backup API and quick_check run in
    SQLite's C code, without the GIL), so the next database is being copied while files are
    chunked. Only one image waits in the scratch folder at a time. An image's quick_check runs on
    the helper thread while the caller chunks and hashes that same image.

    `early` starts one capture before the tree is even scanned: the parent snapshot records each
    database's fingerprint, and a database whose fingerprint moved since is going to be captured
    anyway; `plan` then adopts that capture for its item instead of starting another."""

    def __init__(self, scratch: Path, quick_check: bool) -> None:
        self._scratch = scratch
        self._quick_check = quick_check
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-sqlite")
        self._items: list[_Planned] = []
        self._futures: dict[int, Future[CapturedDatabase]] = {}
        self._next = 0
        self._early: tuple[str, str, Future[CapturedDatabase]] | None = None  # path, sig, capture

    def early(self, path: Path, sig: str) -> None:
        image = self._scratch / "db-early.sqlite"
        self._early = (str(path), sig, self._pool.submit(capture, path, image, quick_check=False))

    def early_signature(self, path: str) -> str | None:
        """The fingerprint taken before the early capture of `path` started, if there is one."""
        return self._early[1] if self._early is not None and self._early[0] == path else None

    def plan(self, items: list[_Planned]) -> None:
        """Capture `items` in order (adopting the early capture for its database)."""
        self._items = items
        if self._early is not None:
            path, _sig, future = self._early
            for item in items:
                if item.path == path:
                    self._futures[id(item)] = future
                    break
        self._submit_next()

    def _submit_next(self) -> None:
        while self._next < len(self._items) and id(self._items[self._next]) in self._futures:
            self._next += 1  # already under way (the early capture)
        if self._next < len(self._items):
            item = self._items[self._next]
            image = self._scratch / f"db-{self._next}.sqlite"
            self._futures[id(item)] = self._pool.submit(capture, Path(item.path), image, quick_check=False)
            self._next += 1

    def take(self, item: _Planned) -> tuple[CapturedDatabase, Future[str] | None]:
        """The capture of `item` (raises what the capture raised) and its pending quick_check
        (None when checks are off); starts the next capture after that check."""
        future = self._futures.pop(id(item), None)
        if future is None:
            raise CaptureFailed(f"{item.path} was not scheduled for capture")
        try:
            captured = future.result()
            check = self._pool.submit(check_image, captured.image) if self._quick_check else None
            return captured, check
        finally:
            self._submit_next()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Backup:
    def __init__(
        self, repo: Repository, sources: SourceSet, options: BackupOptions, progress: ProgressCallback | None
    ) -> None:
        self.repo = repo
        self.sources = sources
        self.options = options
        self.progress = progress
        self.counters = _Counters()
        self.warnings: list[str] = list(sources.warnings)
        self.databases: dict[str, dict[str, Any]] = {}
        self.chunker = ContentChunker(repo.config.chunker, repo.master.chunker_seed)
        self.compressor = StreamCompressor(repo.config.compression_level)
        self.page_compressor = StreamCompressor(min(PAGE_LEVEL, repo.config.compression_level))
        self.list_compressor = StreamCompressor(repo.config.compression_level)  # ids: incompressible
        self.depended_packs: set[str] = set()
        self.depended_numbers: set[int] = set()  # pack numbers of `MasterIndex.usable_packs`
        self.hostname = options.hostname or socket.gethostname()

    def run(self) -> BackupResult:
        started = time.monotonic()
        started_at = datetime.now(UTC)
        with scratch_folder(self.options.scratch_dir) as scratch:
            captures = _Captures(scratch, self.options.sqlite_quick_check)
            try:
                return self._run(started, started_at, captures)
            finally:
                captures.close()

    def _run(self, started: float, started_at: datetime, captures: _Captures) -> BackupResult:
        marks = load_marks(self.repo)
        parent_snapshot = _find_parent(self.repo, self.sources, self.hostname, self.options.parent)
        self._capture_early(parent_snapshot, captures)
        index = self.repo.load_index(marked=marked_packs(marks), kept=self.options.index_cache)
        writer = BlobWriter(self.repo, index, dry_run=self.options.dry_run)
        planned: PlanSpool[_Planned] | None = None
        try:
            parent = self._parent_cache(parent_snapshot)
            scanner = _Scanner(
                self.sources, self.counters, self.warnings, self.options.sqlite_capture, parent
            )
            planned = scanner.scan()
            extra = self._extra_planned()
            total = scanner.file_bytes + sum(st.st_size for _f, st in extra)
            reporter = Reporter(
                self.progress, "backup", total_bytes=total, total_items=planned.count + len(extra)
            )
            # extra files first: their dot-folders sort before the absolute paths of the roots
            tree = self._store_extra(extra, writer, reporter)
            captures.plan(self._databases_to_capture(planned.databases, parent, writer, captures))
            tree_ids: list[bytes] = []
            waiting: list[_Planned] = []  # unchanged files, checked together
            for item in planned:  # read back from the spool one at a time: memory stays flat
                if item.line is not None:
                    waiting.append(item)
                    if len(waiting) >= UNCHANGED_BATCH:
                        tree = self._store_unchanged(
                            waiting, tree, tree_ids, parent, writer, captures, reporter
                        )
                    continue
                if waiting:  # in order: the run before this item first
                    tree = self._store_unchanged(waiting, tree, tree_ids, parent, writer, captures, reporter)
                entry = self._entry(item, parent, writer, captures, reporter)
                if entry is not None:
                    entry.serialize_into(tree)
                tree = self._item_stored(item, tree, tree_ids, writer, reporter)
            if waiting:
                tree = self._store_unchanged(waiting, tree, tree_ids, parent, writer, captures, reporter)
            reporter.finish()
            self._store_tree(tree, writer, tree_ids, final=True)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        finally:
            if planned is not None:
                planned.close()
        if not self.options.dry_run:
            self._check_dependencies(index)
        stats = self._stats(writer, time.monotonic() - started)
        meta = {**self.sources.meta(), **self.options.meta}
        if self.databases:
            meta["databases"] = self.databases
        if self.options.extra_files:
            meta["attachments"] = sorted({f.top for f in self.options.extra_files})
        snapshot = Snapshot(
            time=started_at.isoformat(timespec="microseconds"),
            hostname=self.hostname,
            username=_username(),
            roots=[r.to_json() for r in self.sources.roots],
            tree=tree_ids,
            parent=parent.snapshot_id,
            tags=list(self.options.tags),
            meta=meta,
            stats=stats,
            warnings=self.warnings[:200],
            program=f"clawkeeper {__version__}",
        )
        if not self.options.dry_run:
            save_snapshot(self.repo, snapshot)
            if self.options.index_cache is not None:
                with contextlib.suppress(OSError):  # only a cache: the next backup rebuilds it
                    index_cache.save(self.repo, self.options.index_cache, index)
        return BackupResult(snapshot, self.options.dry_run, self.warnings, self.counters.unreadable > 0)

    def _extra_planned(self) -> list[tuple[ExtraFile, os.stat_result]]:
        """Check the extra files before anything is stored: safe paths, clear of every root."""
        roots = {snapshot_path(r.path).split("/", 1)[0] for r in self.sources.roots}
        out: list[tuple[ExtraFile, os.stat_result]] = []
        for extra in self.options.extra_files:
            parts = extra.path.split("/")
            if extra.path.startswith("/") or any(p in ("", ".", "..") for p in parts) or len(parts) < 2:
                raise UsageError(f"{extra.path!r} is not a usable snapshot path for an extra file")
            if extra.top in roots:
                raise UsageError(
                    f"a source root lies below /{extra.top}, the folder reserved for {extra.path}",
                    hint="back up that folder from another path",
                )
            try:
                st = extra.source.lstat()
            except OSError as exc:
                raise UsageError(f"cannot read {extra.source}: {exc.strerror}") from exc
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{extra.source} is not a regular file")
            out.append((extra, st))
        return out

    def _store_extra(
        self, extra: list[tuple[ExtraFile, os.stat_result]], writer: BlobWriter, reporter: Reporter
    ) -> bytearray:
        tree = bytearray()
        made: set[str] = set()
        for item, st in sorted(extra, key=lambda pair: pair[0].path):
            parts = item.path.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in made:
                    made.add(folder)
                    folder_entry = Entry(folder, EntryType.DIR, 0o700, st.st_mtime_ns, st.st_uid, st.st_gid)
                    tree += folder_entry.to_line()
            mode = stat.S_IMODE(st.st_mode)
            entry = Entry(item.path, EntryType.FILE, mode, st.st_mtime_ns, st.st_uid, st.st_gid)
            compressor = self.compressor if item.compress else StreamCompressor(0)
            with item.source.open("rb", buffering=0) as handle:
                entry.size = self._store_stream(handle, st.st_size, writer, entry, reporter, compressor)
            if entry.size != st.st_size:
                raise IntegrityError(
                    f"{item.source} changed while it was stored; no snapshot was saved",
                    hint="run the backup again",
                )
            tree += entry.to_line()
            self.counters.files += 1
            self.counters.files_read += 1
            self.counters.bytes += entry.size
            reporter.advance(items=1, current=item.path)
        return tree

    def _parent_cache(self, snapshot: Snapshot | None) -> _ParentCache:
        if snapshot is None:
            return _ParentCache.empty()
        if not self.options.use_files_cache:
            return _ParentCache(ParentLines(), snapshot.id)
        return _ParentCache(ParentLines(keyed_lines(tree_pieces(self.repo, snapshot))), snapshot.id)

    def _reusable(
        self, parent: _ParentCache, rel: str, sig: str | None, writer: BlobWriter, *, database: bool = False
    ) -> Entry | None:
        """The parent's entry for this file when its content can be reused as it is (same
        signature, every chunk still stored in an unmarked pack); its packs become dependencies."""
        if sig is None:
            return None
        old = parent.entry(rel)
        if old is None or old.sig != sig or (database and old.sqlite is None):
            return None
        if not self._ids_usable(old.chunk_lists, writer):  # its list blobs, if any
            return None
        try:
            usable = all(self._ids_usable(ids, writer) for ids in content_slices(self.repo, old))
        except BlobCorrupt:
            return None  # its chunk list does not read back: capture it again
        return old if usable else None

    def _ids_usable(self, ids: bytes, writer: BlobWriter) -> bool:
        """True when every id of a concatenated id list is stored in an unmarked pack (or by this
        backup); their packs become dependencies. False: a chunk was pruned or sits in a pack
        marked for deletion, so the file is read again."""
        packs = writer.index.usable_packs(ids)
        if packs is not None:
            self.depended_numbers |= packs
            return True
        if writer.all_known(ids):  # some chunks were stored by this backup
            self.depended_packs.update(writer.index.packs_of(ids))
            return True
        return False

    def _store_unchanged(
        self,
        waiting: list[_Planned],
        tree: bytearray,
        tree_ids: list[bytes],
        parent: _ParentCache,
        writer: BlobWriter,
        captures: _Captures,
        reporter: Reporter,
    ) -> bytearray:
        """Store a run of files planned as unchanged (in order): the parent's line of each whose
        chunks are all still stored in unmarked packs, found with one bulk index query for the
        whole run; any other goes down the ordinary path (which may still reuse or re-read it).
        Returns the file list buffer (stored as it grows)."""
        contents = [_line_chunks(item) for item in waiting]
        ids = {raw[i : i + ID_SIZE] for raw in contents if raw for i in range(0, len(raw), ID_SIZE)}
        packs = writer.index.usable_pack_numbers(list(ids))
        for item, raw in zip(waiting, contents, strict=True):
            numbers = (
                None
                if raw is None
                else {packs.get(raw[i : i + ID_SIZE]) for i in range(0, len(raw), ID_SIZE)}
            )
            if numbers is not None and None not in numbers and item.line is not None:
                self.depended_numbers.update(cast("set[int]", numbers))
                size = item.st.st_size
                self.counters.files += 1
                self.counters.files_reused += 1
                self.counters.bytes += size
                reporter.advance(size)
                tree += item.line
            else:
                item.line = None
                entry = self._entry(item, parent, writer, captures, reporter)
                if entry is not None:
                    entry.serialize_into(tree)
            tree = self._item_stored(item, tree, tree_ids, writer, reporter)
        waiting.clear()
        return tree

    def _item_stored(
        self, item: _Planned, tree: bytearray, tree_ids: list[bytes], writer: BlobWriter, reporter: Reporter
    ) -> bytearray:
        """After an item's line went into `tree`: store the file list once it has grown, count
        the item. Returns the file list buffer."""
        if len(tree) >= TREE_FLUSH_BYTES:
            tree = self._store_tree(tree, writer, tree_ids, final=False)
        reporter.advance(items=1, current=item.path)
        return tree

    def _capture_early(self, parent: Snapshot | None, captures: _Captures) -> None:
        """Start capturing the largest database whose fingerprint moved since `parent` recorded
        it (in its meta), so the copy runs while the index loads and the tree is scanned."""
        if parent is None or self.options.dry_run or not self.options.use_files_cache:
            return
        recorded = parent.meta.get("databases")
        if not isinstance(recorded, dict):
            return
        roots = [root.path for root in self.sources.roots]
        best: tuple[int, Path, str] | None = None
        for rel, details in recorded.items():
            old_sig = details.get("sig") if isinstance(details, dict) else None
            if not isinstance(old_sig, str) or not isinstance(rel, str):
                continue
            path = Path("/" + rel)
            if ".." in path.parts or not any(path.is_relative_to(root) for root in roots):
                continue  # only what this backup covers (the repository is input, not orders)
            sig = source_signature(path)
            if sig is None or sig == old_sig:
                continue
            with contextlib.suppress(OSError):
                size = path.stat().st_size
                if best is None or size > best[0]:
                    best = (size, path, sig)
        if best is not None:
            captures.early(best[1], best[2])

    def _databases_to_capture(
        self, planned: Sequence[_Planned], parent: _ParentCache, writer: BlobWriter, captures: _Captures
    ) -> list[_Planned]:
        """Fingerprint every database now (before any capture starts; for the one captured early,
        the fingerprint taken before that); those that changed since the parent are captured, the
        others reuse the parent's pages."""
        out = []
        for item in planned:
            if item.sqlite:
                item.sig = captures.early_signature(item.path) or source_signature(Path(item.path))
                old = self._reusable(parent, item.rel, item.sig, writer, database=True)
                if old is not None:
                    item.reuse = old
                else:
                    out.append(item)
        return out

    def _entry(
        self,
        item: _Planned,
        parent: _ParentCache,
        writer: BlobWriter,
        captures: _Captures,
        reporter: Reporter,
    ) -> Entry | None:
        st = item.st
        entry = Entry(
            path=item.rel,
            type=item.kind,
            mode=stat.S_IMODE(st.st_mode),
            mtime_ns=st.st_mtime_ns,
            uid=st.st_uid,
            gid=st.st_gid,
        )
        if item.kind is EntryType.DIR:
            self.counters.dirs += 1
            return entry
        if item.kind is EntryType.SYMLINK:
            try:
                entry.link_target = os.readlink(item.path)  # noqa: PTH115 - verbatim target, not normalised
            except OSError as exc:
                self._unreadable(item.path, exc)
                return None
            self.counters.symlinks += 1
            return entry
        if item.sqlite:
            return self._database(item, entry, parent, writer, captures, reporter)
        return self._file(item, entry, parent, writer, reporter)

    def _reuse(self, entry: Entry, old: Entry) -> Entry:
        entry.size = old.size
        entry.chunks = old.chunks
        entry.chunk_lists, entry.listed = old.chunk_lists, old.listed
        if (old.path, old.type, old.mode, old.mtime_ns, old.uid, old.gid) == (
            entry.path,
            entry.type,
            entry.mode,
            entry.mtime_ns,
            entry.uid,
            entry.gid,
        ):
            entry.line = old.line  # same file, same metadata: skip serialising it again
        return entry

    def _file(
        self, item: _Planned, entry: Entry, parent: _ParentCache, writer: BlobWriter, reporter: Reporter
    ) -> Entry | None:
        sig = _file_signature(item.st)
        entry.sig = sig
        old = self._reusable(parent, item.rel, sig, writer)
        if old is not None:
            self.counters.files += 1
            self.counters.files_reused += 1
            self.counters.bytes += old.size
            reporter.advance(old.size)
            return self._reuse(entry, old)
        try:
            fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            self.warnings.append(f"{item.path} vanished during the backup; skipped")
            return None
        except OSError as exc:
            self._unreadable(item.path, exc)
            return None
        with os.fdopen(fd, "rb", buffering=0) as handle:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                self.warnings.append(f"{item.path} changed type during the backup; skipped")
                return None
            try:
                size = self._store_stream(handle, opened.st_size, writer, entry, reporter)
            except OSError as exc:
                self._unreadable(item.path, exc)
                return None
            after = os.fstat(fd)
        if after.st_mtime_ns != opened.st_mtime_ns or after.st_size != size:
            self.warnings.append(f"{item.path} changed while it was read; stored what was read")
            entry.sig = None  # never reuse a torn read
        else:
            entry.sig = _file_signature(opened)
        entry.size = size
        entry.mtime_ns = opened.st_mtime_ns
        self.counters.files += 1
        self.counters.files_read += 1
        self.counters.bytes += size
        return entry

    def _store_stream(
        self,
        handle: Any,
        size_hint: int,
        writer: BlobWriter,
        entry: Entry,
        reporter: Reporter,
        compressor: StreamCompressor | None = None,
    ) -> int:
        if compressor is None:
            compressor = self.compressor
        compressor.reset()
        total = 0
        content: list[bytes] = []
        if size_hint <= self.chunker.params.max_size:
            data = handle.read()  # small files: one read, no stream buffer
            chunks: Iterator[memoryview] = self.chunker.buffer(data)
        else:
            chunks = self.chunker.stream(handle)
        stable = size_hint <= self.chunker.params.max_size  # views into `data`, which nobody reuses
        for chunk in chunks:
            blob_id, _new = writer.add(BlobKind.DATA, chunk, compressor, stable=stable)
            content.append(blob_id)
            total += len(chunk)
            reporter.advance(len(chunk))
        entry.chunks = b"".join(content)
        return total

    def _database(
        self,
        item: _Planned,
        entry: Entry,
        parent: _ParentCache,
        writer: BlobWriter,
        captures: _Captures,
        reporter: Reporter,
    ) -> Entry | None:
        entry.sig = item.sig
        old = item.reuse
        if old is not None and old.sqlite is not None:
            entry.sqlite = old.sqlite
            self.databases[item.rel] = old.sqlite
            self.counters.files += 1
            self.counters.databases += 1
            self.counters.databases_reused += 1
            self.counters.bytes += old.size
            reporter.advance(item.st.st_size)
            return self._reuse(entry, old)
        try:
            captured, check = captures.take(item)
        except CaptureFailed as exc:
            self.warnings.append(f"{item.path}: {exc}; stored as a plain file instead")
            return self._file(item, entry, parent, writer, reporter)
        try:
            self.page_compressor.reset()
            content = bytearray()  # the ids, 32 bytes each: not a list of 100,000 small objects
            lists = bytearray()  # ids of the list blobs content went to, once it outgrew a line
            listed = 0
            size = captured.chunk_size
            with captured.image.open("rb", buffering=0) as handle:
                for block in fixed_blocks(handle, size):
                    content += b"".join(writer.add_fixed(BlobKind.DATA, block, size, self.page_compressor))
                    while len(content) >= LIST_BYTES:
                        lists += self._store_list(content[:LIST_BYTES], writer)
                        listed += LIST_BYTES // ID_SIZE
                        del content[:LIST_BYTES]
            if lists or len(content) > INLINE_MAX * ID_SIZE:
                if content:
                    lists += self._store_list(content, writer)
                    listed += len(content) // ID_SIZE
                entry.chunk_lists, entry.listed = bytes(lists), listed
            else:
                entry.chunks = bytes(content)
            entry.size = captured.size
            if check is not None:
                captured = dataclasses.replace(captured, quick_check=check.result())
        finally:
            if check is not None:
                futures_wait([check])  # it reads the image: let it finish before the unlink
            with contextlib.suppress(FileNotFoundError):
                captured.image.unlink()
        details = {**captured.to_json(), "sig": item.sig}  # lets the next backup capture it early
        if captured.quick_check not in (None, "ok"):
            self.warnings.append(f"{item.path}: quick_check reports {captured.quick_check!r}")
        entry.sqlite = details
        self.databases[item.rel] = details
        self.counters.files += 1
        self.counters.databases += 1
        self.counters.bytes += captured.size
        reporter.advance(item.st.st_size)
        return entry

    def _store_list(self, ids: bytes | bytearray, writer: BlobWriter) -> bytes:
        """Store a slice of a database's chunk ids as a list blob; returns its id."""
        return self._add_tree_blob(bytes(ids), self.list_compressor, writer)

    def _add_tree_blob(
        self, data: bytes | memoryview, compressor: StreamCompressor, writer: BlobWriter
    ) -> bytes:
        """Store a TREE blob (a piece of the file list, a chunk list); a copy already stored
        becomes a dependency of this snapshot. Returns its id."""
        blob_id, _new = writer.add(BlobKind.TREE, data, compressor)
        located = writer.index.lookup(blob_id)
        if located is not None:
            self.depended_packs.add(located.pack_id)
        return blob_id

    def _store_tree(self, tree: bytearray, writer: BlobWriter, ids: list[bytes], *, final: bool) -> bytearray:
        """Store the content-defined chunks of the file list `tree` as TREE blobs (ids appended to
        `ids`) and return what is left of it. Unless `final`, the last chunk is left: lines still
        to come may extend it. Every earlier boundary is final (FastCDC finds a boundary looking
        forward from the chunk's start only), so the file list is cut exactly as if it had been
        built whole, and never has to be held whole: 10 MB for 15,000 files and a 400 MB
        database."""
        chunker = ContentChunker(TREE_CHUNKER, self.repo.master.chunker_seed)
        compressor = StreamCompressor(self.repo.config.compression_level)
        lengths = [len(chunk) for chunk in chunker.buffer(tree)]
        if not final:
            lengths = lengths[:-1]
        view = memoryview(tree)
        start = 0
        for length in lengths:
            ids.append(self._add_tree_blob(view[start : start + length], compressor, writer))
            start += length
        return bytearray(view[start:])  # a copy: `tree` is never resized under a view

    def _check_dependencies(self, index: MasterIndex) -> None:
        """Refuse to write a snapshot naming a pack that vanished under us (a prune that judged our
        session dead, say): better a failed backup than a snapshot that cannot restore."""
        depended = self.depended_packs | index.pack_ids(self.depended_numbers)
        if not depended:
            return
        present = {info.name.rsplit("/", 1)[-1] for info in self.repo.target.list("data")}
        missing = sorted(p for p in depended if p not in present)
        if missing:
            raise IntegrityError(
                f"{len(missing)} pack(s) this backup reuses were deleted while it ran "
                f"(first: {pack_object_name(missing[0])})",
                hint="run the backup again; it will store the data anew",
            )

    def _unreadable(self, path: str, exc: OSError) -> None:
        self.counters.unreadable += 1
        self.warnings.append(f"cannot read {path}: {exc.strerror}; skipped")

    def _stats(self, writer: BlobWriter, duration: float) -> dict[str, Any]:
        c = self.counters
        w = writer.stats
        return {
            "files": c.files,
            "dirs": c.dirs,
            "symlinks": c.symlinks,
            "bytes": c.bytes,
            "files_read": c.files_read,
            "files_reused": c.files_reused,
            "databases": c.databases,
            "databases_reused": c.databases_reused,
            "excluded": c.excluded,
            "sidecars_skipped": c.sidecars_skipped,
            "unreadable": c.unreadable,
            "blobs_added": w.blobs_added,
            "added_raw_bytes": w.raw_bytes_added,
            "added_stored_bytes": w.stored_bytes_added,
            "packs_written": w.packs_written,
            "duration_s": round(duration, 3),
        }


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def create_snapshot(
    repo: Repository,
    sources: SourceSet,
    options: BackupOptions | None = None,
    progress: ProgressCallback | None = None,
) -> BackupResult:
    """Back up `sources` into `repo` and return the new snapshot (not stored when dry_run)."""
    opts = options or BackupOptions()
    if not sources.roots:
        raise UsageError(
            "nothing to back up: no source path exists", hint="check the state dir and paths given"
        )
    backup = _Backup(repo, sources, opts, progress)
    if opts.dry_run:
        return backup.run()
    with Session(repo.target, "backup"):
        return backup.run()
