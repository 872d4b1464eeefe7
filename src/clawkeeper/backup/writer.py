"""Adding blobs to a repository: dedup, compress, seal into packs, write packs, then index them.

The ordering that makes crashes harmless lives here: a pack is written (temp, fsync, rename)
before any index file names it, and `finish` returns only once an index file names every pack
this writer wrote. The caller then writes its snapshot. A crash at any point leaves at worst some
packs that no index names, which a later prune collects.

Three kinds of threads share the work (zstd, BLAKE3, AES-GCM and file I/O all release the GIL):
- the caller chunks, hashes and decides what is new (dedup must see blobs in order);
- a small pool compresses new chunks; results are sealed into the pack in submission order, so
  packs hold chunks in file order (restores read them sequentially);
- one writer thread names each finished pack (BLAKE3 of its bytes), writes and fsyncs it, then
  hands the buffer back for the next pack.
At most `MAX_IN_FLIGHT` chunks and `MAX_PENDING_PACKS` packs wait, which bounds memory. An index
checkpoint is written every `INDEX_EVERY_PACKS` packs (or `INDEX_EVERY_BLOBS` blobs: a database
stored page by page fills a pack with ~6,000 blobs, whose records wait in memory until they are
indexed), so a long backup that is interrupted has its data indexed for the next run to reuse.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from clawkeeper.backup.compress import StreamCompressor, compress_payload
from clawkeeper.backup.crypto import content_name
from clawkeeper.backup.index import IndexedPack
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.packs import BlobFlags, BlobKind, PackBuilder, PackedBlob, pack_object_name
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.tree import split_ids

# One finished pack waits while the next fills: packs are written (and fsynced) more slowly than
# they fill, so a deeper queue only held more 17 MiB buffers (measured: depth 2 took 18 MB more
# memory for the same backup time)
MAX_PENDING_PACKS = 1
MAX_IN_FLIGHT = 8
COMPRESS_WORKERS = 2
# Smaller chunks (database pages, small files) are compressed in the caller's thread: handing
# a 4 KiB page to another thread costs more than compressing it.
OFFLOAD_MIN = 64 * 1024
INDEX_EVERY_PACKS = 32
INDEX_EVERY_BLOBS = 4096

Payload = tuple[bytes | memoryview, BlobFlags]


@dataclass
class WriterStats:
    blobs_added: int = 0
    blobs_reused: int = 0
    raw_bytes_added: int = 0
    stored_bytes_added: int = 0
    packs_written: int = 0
    index_files_written: int = 0


@dataclass
class _InFlight:
    kind: BlobKind
    blob_id: bytes
    raw_length: int
    result: Future[Payload] | Payload
    compressor: StreamCompressor | None  # told the outcome, for its next decision


class BlobWriter:
    def __init__(self, repo: Repository, index: MasterIndex, *, dry_run: bool = False) -> None:
        self.repo = repo
        self.index = index
        self.dry_run = dry_run  # count what would be stored, store nothing
        self.stats = WriterStats()
        self._pending: set[bytes] = set()  # ids added by this writer, not yet in `index`
        self._builders: dict[BlobKind, PackBuilder] = {}
        self._in_flight: deque[_InFlight] = deque()
        self._pool = ThreadPoolExecutor(max_workers=COMPRESS_WORKERS, thread_name_prefix="backup-compress")
        self._queue: queue.Queue[tuple[memoryview, list[PackedBlob], bytearray] | None] = queue.Queue(
            MAX_PENDING_PACKS
        )
        self._free_buffers: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._written: list[IndexedPack] = []  # durable packs not yet named by an index file
        self._written_blobs = 0  # blobs in those packs
        self._written_lock = threading.Lock()
        self._error: BaseException | None = None
        self._aborted = False
        self._closed = False
        self._thread = threading.Thread(target=self._write_packs, name="backup-pack-writer", daemon=True)
        self._thread.start()

    # the public surface -------------------------------------------------------------------------
    def known(self, blob_id: bytes) -> bool:
        """True when the repository (or this writer) already holds the blob in a usable pack."""
        return blob_id in self._pending or self.index.usable(blob_id)

    def all_known(self, blob_ids: bytes) -> bool:
        """`known` for every id of a concatenated id list (an unchanged file's content), with one
        bulk index query for those this writer has not stored."""
        ids = {blob_id for blob_id in split_ids(blob_ids) if blob_id not in self._pending}
        return len(self.index.usable_among(list(ids))) == len(ids)

    def add(
        self,
        kind: BlobKind,
        data: bytes | memoryview,
        compressor: StreamCompressor,
        blob_id: bytes | None = None,
        *,
        stable: bool = False,
    ) -> tuple[bytes, bool]:
        """Store `data` unless it is already there. Returns (blob id, newly stored?).

        `data` may be a view into a buffer the caller reuses: it is copied if it must outlive
        this call, unless `stable` says the buffer stays untouched until the writer is done."""
        if blob_id is None:
            blob_id = self.repo.hash_blob(data)
        if self.known(blob_id):
            self.stats.blobs_reused += 1
            return blob_id, False
        self._store_new(kind, data, compressor, blob_id, stable)
        return blob_id, True

    def _store_new(
        self,
        kind: BlobKind,
        data: bytes | memoryview,
        compressor: StreamCompressor,
        blob_id: bytes,
        stable: bool,
    ) -> None:
        """`add` for a blob the caller already knows is not stored."""
        self._pending.add(blob_id)
        raw_length = len(data)
        if compressor.wants_attempt(raw_length):
            if self.dry_run or raw_length < OFFLOAD_MIN:
                payload, flags = compress_payload(data, compressor.level)
                compressor.record(flags)
                if self.dry_run:
                    self._count(raw_length, len(payload) + self.repo.cipher.overhead)
                elif flags is BlobFlags.COMPRESSED or stable:
                    self._in_flight.append(_InFlight(kind, blob_id, raw_length, (payload, flags), None))
                    while len(self._in_flight) > MAX_IN_FLIGHT:
                        self._complete_oldest()
                else:
                    self._drain()
                    self._seal(kind, blob_id, data, raw_length, flags)
                return
            future = self._pool.submit(compress_payload, data if stable else bytes(data), compressor.level)
            self._in_flight.append(_InFlight(kind, blob_id, raw_length, future, compressor))
            while len(self._in_flight) > MAX_IN_FLIGHT:
                self._complete_oldest()
            return
        if self.dry_run:
            self._count(raw_length, raw_length + self.repo.cipher.overhead)
            return
        if self._in_flight:
            # keep file order in the pack without copying: let the queue ahead drain first
            self._drain()
        self._seal(kind, blob_id, data, raw_length, BlobFlags.NONE)

    def add_fixed(
        self, kind: BlobKind, data: memoryview, size: int, compressor: StreamCompressor
    ) -> list[bytes]:
        """Store `data` cut into `size`-byte chunks (database pages); returns their ids in order.

        The hot path of a changed database: most of its pages are unchanged, so each of those
        costs one keyed hash and its share of one bulk lookup; the new ones are stored without
        being looked up again. `data` may be a view into a buffer the caller reuses (as for
        `add`)."""
        ids = self.repo.hash_blob.many(data, size)
        pending = self._pending
        stored = self.index.usable_among(ids)  # one bulk query for the whole buffer
        reused = 0
        for i, blob_id in enumerate(ids):
            if blob_id in pending or blob_id in stored:
                reused += 1
            else:
                start = i * size
                self._store_new(kind, data[start : start + size], compressor, blob_id, False)
        self.stats.blobs_reused += reused
        return ids

    def add_raw_payload(
        self, kind: BlobKind, blob_id: bytes, payload: bytes, raw_length: int, flags: BlobFlags
    ) -> None:
        """Store an already-prepared payload (used by prune's repack)."""
        if blob_id in self._pending:
            return
        self._pending.add(blob_id)
        self._drain()
        self._seal(kind, blob_id, payload, raw_length, flags)

    def finish(self) -> list[str]:
        """Write the remaining packs and index them. Returns the index files written by this call
        (earlier checkpoints are not repeated)."""
        self._drain()
        for kind in list(self._builders):
            self._flush(kind)
        self._stop_threads()
        self._raise_if_failed()
        written = self._index_written()
        return [written] if written else []

    def abort(self) -> None:
        """Stop without indexing: whatever was written stays as orphans for prune."""
        self._in_flight.clear()
        self._builders.clear()
        self._stop_threads(drain=False)

    # internals ----------------------------------------------------------------------------------
    def _count(self, raw: int, stored: int) -> None:
        self.stats.blobs_added += 1
        self.stats.raw_bytes_added += raw
        self.stats.stored_bytes_added += stored

    def _complete_oldest(self) -> None:
        item = self._in_flight.popleft()
        payload, flags = item.result.result() if isinstance(item.result, Future) else item.result
        if item.compressor is not None:
            item.compressor.record(flags)
        self._seal(item.kind, item.blob_id, payload, item.raw_length, flags)

    def _drain(self) -> None:
        while self._in_flight:
            self._complete_oldest()

    def _seal(
        self, kind: BlobKind, blob_id: bytes, payload: bytes | memoryview, raw: int, flags: BlobFlags
    ) -> None:
        builder = self._builders.get(kind)
        if builder is not None and len(builder) and not builder.fits(len(payload)):
            self._flush(kind)  # start a new pack rather than grow this one's buffer
            builder = None
        if builder is None:
            buffer: bytearray | None = None
            if kind is BlobKind.DATA:  # only data packs' buffers are recycled (the small ones are not)
                with contextlib.suppress(queue.Empty):
                    buffer = self._free_buffers.get_nowait()
            builder = PackBuilder(self.repo.cipher, kind, self.repo.config.pack_size, buffer)
            self._builders[kind] = builder
        blob = builder.add(blob_id, payload, raw, flags)
        self._count(raw, blob.length)
        if builder.full:
            self._flush(kind)

    def _flush(self, kind: BlobKind) -> None:
        builder = self._builders.pop(kind, None)
        if builder is None or not len(builder):
            return
        data, blobs, buffer = builder.finish()
        self._raise_if_failed()
        self._queue.put((data, list(blobs), buffer))
        with self._written_lock:
            due = len(self._written) >= INDEX_EVERY_PACKS or self._written_blobs >= INDEX_EVERY_BLOBS
        if due:
            self._index_written()

    def _write_packs(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._aborted:
                continue  # keep draining so the producer never blocks forever
            data, blobs, buffer = item
            size = len(data)
            try:
                pack_id = content_name(data)
                self.repo.target.write(pack_object_name(pack_id), data)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer thread, re-raised there
                self._error = exc
                continue
            finally:
                data.release()  # a buffer with a live view cannot be resized by its next builder
            with self._written_lock:
                self._written.append(IndexedPack(pack_id, size, tuple(blobs)))
                self._written_blobs += len(blobs)
                self.stats.packs_written += 1
            if blobs and blobs[0].kind is BlobKind.DATA:
                self._free_buffers.put(buffer)

    def _index_written(self) -> str | None:
        with self._written_lock:
            packs, self._written = self._written, []
            self._written_blobs = 0
        if not packs:
            return None
        name = self.repo.write_index(packs)
        self.stats.index_files_written += 1
        self.index.add(name, packs)
        # now findable through the index: keep one copy of each id in memory, not two
        self._pending.difference_update(b.blob_id for pack in packs for b in pack.blobs)
        return name

    def _stop_threads(self, drain: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=not drain)
        if not drain:
            self._aborted = True
        self._queue.put(None)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
