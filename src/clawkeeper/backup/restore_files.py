"""Writing restored files' contents: workers fetch, check and write chunks in parallel.

This thread walks the files in snapshot order, creates each one (through the caller's
`create`) and cuts their chunk sequence into batches. A worker takes a whole batch, reads the
pack regions it needs (`blobstream.open_batch`: decrypt, which authenticates every chunk
against its id, and decompress, into buffers the worker reuses) and writes each run of
consecutive chunks at its offset with `pwritev`. Copying a gigabyte into the page cache is the
largest single cost of a restore, so it is spread over the workers instead of queueing behind
one writer thread, and large files (models, archives) skip it: they are written with direct I/O
(`direct_io`). Databases are not: the restore reads each one right back for its quick_check,
which from the page cache is fast and from the disk is 25,000 small random reads per 100 MB.

Batches are taken alternately from two lanes (the first and the second half of the bytes), so
two workers seldom write the same file at once (`_two_lanes`). Batches complete in order: once
the batch holding a file's last chunk is done, the caller's `finish` checks the size, sets the
metadata and closes the file (files finish in lane order). At most `AHEAD_BATCHES`
batches are in flight and each creates at most `BATCH_FILES` files, so memory (about
`WORKERS` x 3 x `BATCH_BYTES`: the regions read, the plaintexts and the direct-write staging
buffer) and open descriptors stay bounded whatever the snapshot's size. On any error every
worker is stopped before the unfinished files are handed to `abandon`, so no write can land in
a descriptor that was closed (and reused) meanwhile.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from clawkeeper.backup import direct_io
from clawkeeper.backup.blobstream import Wanted, open_batch
from clawkeeper.backup.buffers import thread_buffers
from clawkeeper.backup.crypto import ID_SIZE
from clawkeeper.backup.index import IndexEntry
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore_list import sizes_of
from clawkeeper.backup.snapshots import content_slices
from clawkeeper.backup.tree import Entry, split_ids

WORKERS = 2
AHEAD_BATCHES = 4
BATCH_BYTES = 4 * 1024 * 1024  # plaintext per batch (each worker keeps ~3x this in buffers)
BATCH_BLOBS = 4096
BATCH_FILES = 64  # files a batch may create (bounds open descriptors)
GROUP_FILES = 256  # files whose chunks are looked up together
SMALL_CONTENT = 64 * ID_SIZE  # a content list looked up with its group's
IOV_MAX = 1024


@dataclass(eq=False)
class OpenFile:
    entry: Entry
    fd: int
    written: int = 0
    direct: int | None = None  # a descriptor for direct writes (`direct_io`), if the file has one
    direct_refused: bool = False  # the filesystem turned a direct write down

    def close_direct(self) -> None:
        if self.direct is not None:
            os.close(self.direct)
            self.direct = None


@dataclass
class _Batch:
    wanted: list[Wanted] = field(default_factory=list)
    places: list[tuple[OpenFile, int]] = field(default_factory=list)  # per wanted: file, offset
    completes: list[OpenFile] = field(default_factory=list)  # files whose last chunk is here
    created: int = 0
    raw_bytes: int = 0

    @property
    def full(self) -> bool:
        return self.raw_bytes >= BATCH_BYTES or len(self.wanted) >= BATCH_BLOBS or self.created >= BATCH_FILES


def write_files(
    repo: Repository,
    files: Sequence[Entry],
    create: Callable[[Entry], int],
    finish: Callable[[OpenFile], None],
    abandon: Callable[[OpenFile], None],
    *,
    workers: int = WORKERS,
) -> None:
    """Restore the content of `files`. `create(entry)` returns a descriptor open for writing;
    `finish(file)` is called once per file after all its chunks are written (`file.written`
    bytes), on this thread; `abandon(file)` for each created file that will not be finished
    because something failed (the exception is re-raised afterwards)."""
    unfinished: dict[int, OpenFile] = {}

    def tracked(entry: Entry) -> OpenFile:
        opened = OpenFile(entry, create(entry))
        unfinished[id(opened)] = opened
        if entry.size >= direct_io.MIN_FILE and not entry.is_sqlite:
            opened.direct = direct_io.reopen_direct(opened.fd)
        return opened

    def complete(future: Future[list[tuple[OpenFile, int]]], batch: _Batch) -> None:
        for opened, count in future.result():
            opened.written += count
        for opened in batch.completes:
            del unfinished[id(opened)]
            opened.close_direct()
            finish(opened)

    window: deque[tuple[Future[list[tuple[OpenFile, int]]], _Batch]] = deque()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore") as pool:
            try:
                for batch in _two_lanes(repo, files, tracked):
                    window.append((pool.submit(_write_batch, repo, batch), batch))
                    while len(window) >= AHEAD_BATCHES:
                        complete(*window.popleft())
                while window:
                    complete(*window.popleft())
            except BaseException:
                for future, _batch in window:
                    future.cancel()
                raise  # leaving the pool waits for the batches already running
    except BaseException:
        for opened in unfinished.values():
            opened.close_direct()
            abandon(opened)
        raise


def _two_lanes(
    repo: Repository, files: Sequence[Entry], create: Callable[[Entry], OpenFile]
) -> Iterator[_Batch]:
    """Batches taken alternately from the first and the second half of the files (by size).

    Buffered writes to one file are serialised by its inode lock, so two workers writing
    neighbouring batches of one large file (a model, the database) mostly wait for each other;
    with two lanes, the batches in progress almost always belong to different files."""
    first, second = split_in_two(files)
    lanes = [_batches(repo, first, create), _batches(repo, second, create)]
    while lanes:
        for lane in list(lanes):
            batch = next(lane, None)
            if batch is None:
                lanes.remove(lane)
            else:
                yield batch


def split_in_two(files: Sequence[Entry]) -> tuple[Sequence[Entry], Sequence[Entry]]:
    """The files cut where half of their bytes lie before the cut (order kept)."""
    sizes = sizes_of(files)
    half = sum(sizes) / 2
    cut, seen = len(files), 0
    for i, size in enumerate(sizes):
        if seen + size / 2 >= half:  # the file straddling the middle goes where most of it lies
            cut = i
            break
        seen += size
    return files[:cut], files[cut:]


def _batches(
    repo: Repository, files: Sequence[Entry], create: Callable[[Entry], OpenFile]
) -> Iterator[_Batch]:
    batch = _Batch()
    for group in _groups(files):
        for entry, chunks in _located(repo, group):
            opened = create(entry)
            batch.created += 1
            offset = 0
            count = entry.chunk_count
            for seen, (blob_id, located) in enumerate(chunks, 1):
                batch.wanted.append(Wanted(blob_id, entry.path, located))
                batch.places.append((opened, offset))
                size = located.raw_length if located is not None else 0
                offset += size
                batch.raw_bytes += size
                if seen == count:
                    batch.completes.append(opened)
                elif batch.full:
                    yield batch
                    batch = _Batch()
            if not count:
                batch.completes.append(opened)
            if batch.full:
                yield batch
                batch = _Batch()
    if batch.wanted or batch.completes:
        yield batch


def _groups(files: Sequence[Entry]) -> Iterator[list[Entry]]:
    group: list[Entry] = []
    for entry in files:
        group.append(entry)
        if len(group) >= GROUP_FILES:
            yield group
            group = []
    if group:
        yield group


Located = Iterator[tuple[bytes, IndexEntry | None]]


def _located(repo: Repository, group: list[Entry]) -> Iterator[tuple[Entry, Located]]:
    """Each file of `group` with its chunks and where they are stored. The small files' chunks
    (most files are one) are looked up together, in one bulk query for the group: a query per
    file cost ~40 µs on a restore's busy main thread. Large content lists (a database) are
    looked up a slice at a time, so their entries are never all held."""
    small = [e for e in group if not e.chunk_lists and len(e.chunks) <= SMALL_CONTENT]
    known = repo.index.lookup_map(
        [e.chunks[i : i + ID_SIZE] for e in small for i in range(0, len(e.chunks), ID_SIZE)]
    )
    for entry in group:
        if not entry.chunk_lists and len(entry.chunks) <= SMALL_CONTENT:
            ids = split_ids(entry.chunks)
            yield entry, ((blob_id, known.get(blob_id)) for blob_id in ids)
        else:
            yield entry, _sliced(repo, entry)


def _sliced(repo: Repository, entry: Entry) -> Located:
    step = BATCH_BLOBS * ID_SIZE  # chunks looked up per query
    for ids in content_slices(repo, entry, step):
        for start in range(0, len(ids), step):
            part = ids[start : start + step]
            yield from zip(split_ids(part), repo.index.lookup_many(part), strict=True)


def _write_batch(repo: Repository, batch: _Batch) -> list[tuple[OpenFile, int]]:
    """Runs on a worker: fetch and check the batch's chunks, write each at its place."""
    # AES-GCM has authenticated each chunk; they are written before this thread's next batch
    chunks = open_batch(repo, batch.wanted, rehash=False, buffers=thread_buffers())
    written: list[tuple[OpenFile, int]] = []
    run: list[bytes | memoryview] = []
    run_file: OpenFile | None = None
    run_start = run_end = 0
    for (opened, offset), data in zip(batch.places, chunks, strict=True):
        if run and (opened is not run_file or offset != run_end or len(run) >= IOV_MAX):
            assert run_file is not None  # noqa: S101 - set with the run's first chunk
            written.append((run_file, _write_run(run_file, run, run_start)))
            run = []
        if not run:
            run_file, run_start, run_end = opened, offset, offset
        run.append(data)
        run_end += len(data)
    if run and run_file is not None:
        written.append((run_file, _write_run(run_file, run, run_start)))
    return written


def _write_run(opened: OpenFile, buffers: list[bytes | memoryview], offset: int) -> int:
    """Write consecutive chunks of one file: past the page cache where it can (`direct_io`)."""
    direct = opened.direct
    if direct is not None and not opened.direct_refused and sum(len(b) for b in buffers) >= direct_io.MIN_RUN:
        try:
            return direct_io.write_run(opened.fd, direct, buffers, offset)
        except direct_io.DirectRefused:
            # the rest of the file goes buffered (the descriptor is closed with the file, on the
            # lane's thread: another worker may be writing through it right now)
            opened.direct_refused = True
    return direct_io.pwritev_all(opened.fd, buffers, offset)
