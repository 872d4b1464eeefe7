"""Two-phase garbage collection: mark now, delete on a later run. No backup ever waits for it.

Each run first *sweeps* old marks, then *marks* what is unused now:

Sweep (phase 2) handles every mark that is older than the grace period and that no backup could
still depend on: a backup whose liveness record says it started before the mark (plus a clock
margin) and is still running postpones the mark. Against the snapshots that exist *now*, a
marked pack holding a blob that some snapshot needs and that has no copy outside the packs being
deleted is rescued. Then, in this order: index files naming the doomed packs are rewritten
without them (new file first, old ones deleted after), the packs are deleted, the mark goes.

Mark (phase 1) lists packs no snapshot uses, packs no index names (left by an interrupted
backup), and packs whose used share fell below `repack_below` after copying their live blobs
into fresh packs. The mark is sealed and stored; backups read marks when they start and never
dedup against marked packs, so nothing they write will depend on them.

Crash anywhere: an index never names a deleted pack (packs go after the index rewrite), and a
half-finished sweep is simply finished by the next run. If any snapshot cannot be read, prune
stops before deleting anything: it cannot know what that snapshot needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.backup.compress import StreamCompressor
from clawkeeper.backup.index import IndexedPack, IndexEntry
from clawkeeper.backup.marks import PruneMark, load_marks, write_mark
from clawkeeper.backup.packs import PackedBlob, pack_id_from_name, pack_object_name
from clawkeeper.backup.progress import ProgressCallback, Reporter
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.sessions import PruneLock, list_sessions, remove_stale_sessions
from clawkeeper.backup.snapshots import content_slices, iter_tree, load_snapshot
from clawkeeper.backup.tree import EntryType, TreeFormatError, split_ids
from clawkeeper.backup.writer import BlobWriter
from clawkeeper.errors import ClawkeeperError, IntegrityError

DEFAULT_GRACE_S = 3600.0
CLOCK_MARGIN_S = 300.0
TEMP_MAX_AGE_S = 6 * 3600.0
LOOKUP_BATCH = 10_000  # referenced blobs looked up per bulk query


@dataclass(frozen=True)
class PruneOptions:
    grace_s: float = DEFAULT_GRACE_S  # a mark must be this old before its packs are deleted
    repack_below: float = 0.5  # repack packs with less than this share in use (0: never)
    dry_run: bool = False


@dataclass
class PruneResult:
    dry_run: bool
    snapshots: int = 0
    referenced_blobs: int = 0
    swept_marks: list[str] = field(default_factory=list)
    postponed_marks: dict[str, str] = field(default_factory=dict)  # mark id -> why
    deleted_packs: int = 0
    deleted_bytes: int = 0
    rescued_packs: int = 0
    index_files_rewritten: int = 0
    new_mark: str | None = None
    marked_packs: int = 0
    marked_bytes: int = 0
    marked_unused: int = 0
    marked_orphans: int = 0
    repacked_packs: int = 0
    repacked_bytes: int = 0
    stale_sessions_removed: int = 0
    temporaries_removed: int = 0
    unreadable_marks_removed: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _referenced_blobs(repo: Repository) -> tuple[set[bytes], int]:
    """Every blob any snapshot needs. Raises IntegrityError if a snapshot cannot be read."""
    referenced: set[bytes] = set()
    ids = repo.list_ids("snapshots")
    for snapshot_id in ids:
        try:
            snapshot = load_snapshot(repo, snapshot_id)
            referenced.update(snapshot.tree)
            for entry in iter_tree(repo, snapshot):
                if entry.type is EntryType.FILE:
                    referenced.update(split_ids(entry.chunk_lists))  # its list blobs, if any
                    for piece in content_slices(repo, entry):
                        referenced.update(split_ids(piece))
        except (ClawkeeperError, TreeFormatError) as exc:
            detail = exc.message if isinstance(exc, ClawkeeperError) else str(exc)
            raise IntegrityError(
                f"snapshot {snapshot_id[:8]} cannot be read ({detail}); prune stopped before deleting",
                hint="run `clawkeeper backup verify`; forget the damaged snapshot if it cannot be repaired",
            ) from exc
    return referenced, len(ids)


def _indexed_pack(pack_id: str, size: int, blobs: Iterable[tuple[bytes, IndexEntry]]) -> IndexedPack:
    unique = {(blob_id, e.offset): (blob_id, e) for blob_id, e in blobs if e.pack_id == pack_id}
    return IndexedPack(
        pack_id,
        size,
        tuple(
            PackedBlob(blob_id, e.kind, e.flags, e.offset, e.length, e.raw_length)
            for blob_id, e in sorted(unique.values(), key=lambda item: item[1].offset)
        ),
    )


class _Prune:
    def __init__(self, repo: Repository, options: PruneOptions, progress: ProgressCallback | None) -> None:
        self.repo = repo
        self.options = options
        self.progress = progress
        self.result = PruneResult(dry_run=options.dry_run)
        self.now = time.time()

    def run(self, lock: PruneLock | None) -> PruneResult:
        target = self.repo.target
        if not self.options.dry_run:
            self.result.stale_sessions_removed = remove_stale_sessions(target, self.now)
        # liveness first, snapshots after: a backup that ended before this point has its snapshot
        # listed below; one still running is seen here
        live = [s for s in list_sessions(target) if s.kind == "backup" and s.is_live(self.now)]
        unreadable: list[str] = []
        marks = load_marks(self.repo, unreadable)
        if not self.options.dry_run:
            for mark_id in unreadable:  # no prune can act on it; dropping it cancels a deletion
                self.result.unreadable_marks_removed += int(target.delete(f"marks/{mark_id}"))
        referenced, self.result.snapshots = _referenced_blobs(self.repo)
        self.result.referenced_blobs = len(referenced)
        listed = {pack_id_from_name(i.name): i.size for i in target.list("data")}

        due: list[PruneMark] = []
        for mark in marks:
            why = self._postpone_reason(mark, live)
            if why:
                self.result.postponed_marks[mark.id] = why
            else:
                due.append(mark)
        if due:
            self._sweep(due, referenced, listed)
            if lock is not None:
                lock.refresh()
            listed = {pack_id_from_name(i.name): i.size for i in target.list("data")}
        pending = [m for m in marks if m.id in self.result.postponed_marks]
        self._mark(pending, referenced, listed)
        if not self.options.dry_run:
            self.result.temporaries_removed = target.cleanup_temporaries(
                max(TEMP_MAX_AGE_S, self.options.grace_s)
            )
        return self.result

    def _postpone_reason(self, mark: PruneMark, live: list[Any]) -> str | None:
        age = self.now - mark.created_at
        if age < self.options.grace_s:
            return f"grace period: {self.options.grace_s - age:.0f}s left"
        blockers = [s for s in live if s.started_at <= mark.created_at + CLOCK_MARGIN_S]
        if blockers:
            first = blockers[0]
            return f"a backup that began before the mark is still running ({first.host} pid {first.pid})"
        return None

    # phase 2 --------------------------------------------------------------------------------------
    def _sweep(self, due: list[PruneMark], referenced: set[bytes], listed: dict[str, int]) -> None:
        index = self.repo.load_index()
        by_pack = index.pack_blobs()
        doomed = {p for mark in due for p in mark.packs if p in listed or p in index.pack_sizes}
        for pack_id in sorted(doomed):
            needed = False
            for blob_id, _entry in by_pack.get(pack_id, []):
                if blob_id not in referenced:
                    continue
                if not any(loc.pack_id not in doomed for loc in index.locations(blob_id)):
                    needed = True
                    break
            if needed:
                doomed.discard(pack_id)
                self.result.rescued_packs += 1
        self.result.swept_marks = [m.id for m in due]
        self.result.deleted_packs = len(doomed)
        self.result.deleted_bytes = sum(listed.get(p, index.pack_sizes.get(p, 0)) for p in doomed)
        if self.options.dry_run:
            return
        affected = sorted({name for p in doomed for name in index.pack_index_files.get(p, ())})
        if affected:
            survivors: dict[str, IndexedPack] = {}
            for name in affected:
                for pack_id in index.index_files.get(name, []):
                    if pack_id not in doomed and pack_id not in survivors:
                        survivors[pack_id] = _indexed_pack(
                            pack_id, index.pack_sizes[pack_id], by_pack.get(pack_id, [])
                        )
            if survivors:
                self.repo.write_index(list(survivors.values()))
            for name in affected:
                self.repo.target.delete(f"index/{name}")
            self.result.index_files_rewritten = len(affected)
        reporter = Reporter(self.progress, "prune", total_items=len(doomed))
        for pack_id in sorted(doomed):
            self.repo.target.delete(pack_object_name(pack_id))
            reporter.advance(items=1)
        reporter.finish()
        for mark in due:
            self.repo.target.delete(f"marks/{mark.id}")

    # phase 1 --------------------------------------------------------------------------------------
    def _mark(self, pending: list[PruneMark], referenced: set[bytes], listed: dict[str, int]) -> None:
        already = frozenset(p for m in pending for p in m.packs)
        index = self.repo.load_index(marked=already)
        used: dict[str, int] = {}
        ids = list(referenced)
        for start in range(0, len(ids), LOOKUP_BATCH):
            for entry in index.lookup_many(b"".join(ids[start : start + LOOKUP_BATCH])):
                if entry is not None:
                    used[entry.pack_id] = used.get(entry.pack_id, 0) + entry.length
        unused = [p for p in index.pack_sizes if p not in already and used.get(p, 0) == 0]
        orphans = [p for p in listed if p not in index.pack_sizes and p not in already]
        sparse = [
            p
            for p, size in index.pack_sizes.items()
            if p not in already and 0 < used.get(p, 0) < size * self.options.repack_below
        ]
        if sparse and not self.options.dry_run:
            self._repack(sparse, already, referenced)
        self.result.repacked_packs = len(sparse)
        self.result.repacked_bytes = sum(used.get(p, 0) for p in sparse)
        doomed = sorted({*unused, *orphans, *sparse})
        self.result.marked_unused = len(unused)
        self.result.marked_orphans = len(orphans)
        self.result.marked_packs = len(doomed)
        self.result.marked_bytes = sum(listed.get(p, index.pack_sizes.get(p, 0)) for p in doomed) - sum(
            used.get(p, 0) for p in sparse
        )
        if doomed and not self.options.dry_run:
            reason = {"unused": len(unused), "orphaned": len(orphans), "repacked": len(sparse)}
            self.result.new_mark = write_mark(self.repo, doomed, reason).id

    def _repack(self, packs: list[str], already: frozenset[str], referenced: set[bytes]) -> None:
        """Copy the live blobs of sparse packs into new packs (indexed before anything is marked)."""
        # the writer must not count the sparse packs as places a blob is already stored
        index = self.repo.load_index(marked=already | frozenset(packs))
        by_pack = index.pack_blobs()
        writer = BlobWriter(self.repo, index)
        compressor = StreamCompressor(self.repo.config.compression_level)
        reporter = Reporter(self.progress, "repack", total_items=len(packs))
        try:
            for pack_id in packs:
                for blob_id, entry in by_pack.get(pack_id, []):
                    if blob_id not in referenced or writer.known(blob_id):
                        continue
                    data = self.repo.read_blob(blob_id)  # verified on the way: never copy damage
                    compressor.reset()
                    writer.add(entry.kind, data, compressor, blob_id)
                reporter.advance(items=1)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        reporter.finish()


def prune_repository(
    repo: Repository, options: PruneOptions | None = None, progress: ProgressCallback | None = None
) -> PruneResult:
    opts = options or PruneOptions()
    if opts.dry_run:
        return _Prune(repo, opts, progress).run(None)
    with PruneLock(repo.target) as lock:
        return _Prune(repo, opts, progress).run(lock)
