"""Adding blobs to a repository: dedup, compress, seal into packs, write packs, then index them.

The ordering that makes crashes harmless lives here: a pack is written (temp, fsync, rename)
before any index file names it, and `finish` returns only once an index file names every pack
this writer wrote. The caller then writes its snapshot. A crash at any point leaves at worst some
packs that no index names, which a later prune collects.

Packs go to storage on a background thread (the file write and fsync release the GIL) while the
caller keeps chunking and sealing; at most `MAX_PENDING_PACKS` wait, bounding memory. An index
checkpoint is written every `INDEX_EVERY_PACKS` packs, so a long backup that is interrupted has
its uploaded data indexed for the next run to reuse.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

from clawkeeper.backup.compress import StreamCompressor
from clawkeeper.backup.index import IndexedPack, MasterIndex
from clawkeeper.backup.packs import BlobFlags, BlobKind, PackBuilder, PackedBlob, pack_object_name
from clawkeeper.backup.repository import Repository

MAX_PENDING_PACKS = 2
INDEX_EVERY_PACKS = 32


@dataclass
class WriterStats:
    blobs_added: int = 0
    blobs_reused: int = 0
    raw_bytes_added: int = 0
    stored_bytes_added: int = 0
    packs_written: int = 0
    index_files_written: int = 0


class BlobWriter:
    def __init__(self, repo: Repository, index: MasterIndex, *, dry_run: bool = False) -> None:
        self.repo = repo
        self.index = index
        self.dry_run = dry_run  # count what would be stored, store nothing
        self.stats = WriterStats()
        self._pending: set[bytes] = set()  # ids added by this writer, not yet in `index`
        self._builders: dict[BlobKind, PackBuilder] = {}
        self._queue: queue.Queue[tuple[str, memoryview, list[PackedBlob]] | None] = queue.Queue(
            MAX_PENDING_PACKS
        )
        self._written: list[IndexedPack] = []  # durable packs not yet named by an index file
        self._written_lock = threading.Lock()
        self._error: BaseException | None = None
        self._aborted = False
        self._thread = threading.Thread(target=self._write_packs, name="backup-pack-writer", daemon=True)
        self._thread.start()
        self._closed = False

    # the public surface -------------------------------------------------------------------------
    def known(self, blob_id: bytes) -> bool:
        """True when the repository (or this writer) already holds the blob in a usable pack."""
        return blob_id in self._pending or self.index.usable(blob_id)

    def add(
        self,
        kind: BlobKind,
        data: bytes | memoryview,
        compressor: StreamCompressor,
        blob_id: bytes | None = None,
    ) -> tuple[bytes, bool]:
        """Store `data` unless it is already there. Returns (blob id, newly stored?)."""
        if blob_id is None:
            blob_id = self.repo.hash_blob(data)
        if self.known(blob_id):
            self.stats.blobs_reused += 1
            return blob_id, False
        payload, flags = compressor.compress(data)
        if self.dry_run:
            self._pending.add(blob_id)
            self.stats.blobs_added += 1
            self.stats.raw_bytes_added += len(data)
            self.stats.stored_bytes_added += len(payload) + self.repo.cipher.overhead
            return blob_id, True
        builder = self._builders.get(kind)
        if builder is None:
            builder = PackBuilder(self.repo.cipher, kind, self.repo.config.pack_size)
            self._builders[kind] = builder
        blob = builder.add(blob_id, payload, len(data), flags)
        self._pending.add(blob_id)
        self.stats.blobs_added += 1
        self.stats.raw_bytes_added += len(data)
        self.stats.stored_bytes_added += blob.length
        if builder.full:
            self._flush(kind)
        return blob_id, True

    def add_raw_payload(
        self, kind: BlobKind, blob_id: bytes, payload: bytes, raw_length: int, flags: BlobFlags
    ) -> None:
        """Copy an already-compressed payload (prune's repack) without recompressing it."""
        if blob_id in self._pending:
            return
        builder = self._builders.get(kind)
        if builder is None:
            builder = PackBuilder(self.repo.cipher, kind, self.repo.config.pack_size)
            self._builders[kind] = builder
        blob = builder.add(blob_id, payload, raw_length, flags)
        self._pending.add(blob_id)
        self.stats.blobs_added += 1
        self.stats.raw_bytes_added += raw_length
        self.stats.stored_bytes_added += blob.length
        if builder.full:
            self._flush(kind)

    def finish(self) -> list[str]:
        """Write the remaining packs and index them. Returns the names of the index files written
        by this call (checkpoints included are not repeated)."""
        for kind in list(self._builders):
            self._flush(kind)
        self._stop_thread()
        self._raise_if_failed()
        written = self._index_written()
        return [written] if written else []

    def abort(self) -> None:
        """Stop without indexing: whatever was written stays as orphans for prune."""
        self._builders.clear()
        self._stop_thread(drain=False)

    # internals ----------------------------------------------------------------------------------
    def _flush(self, kind: BlobKind) -> None:
        builder = self._builders.pop(kind, None)
        if builder is None or not len(builder):
            return
        pack_id, data, blobs = builder.finish()
        self._raise_if_failed()
        self._queue.put((pack_id, data, list(blobs)))
        with self._written_lock:
            due = len(self._written) >= INDEX_EVERY_PACKS
        if due:
            self._index_written()

    def _write_packs(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._aborted:
                continue  # keep draining so the producer never blocks forever
            pack_id, data, blobs = item
            try:
                self.repo.target.write(pack_object_name(pack_id), data)
            except BaseException as exc:  # noqa: BLE001 - handed to the producer thread, re-raised there
                self._error = exc
                continue
            with self._written_lock:
                self._written.append(IndexedPack(pack_id, len(data), tuple(blobs)))
                self.stats.packs_written += 1

    def _index_written(self) -> str | None:
        with self._written_lock:
            packs, self._written = self._written, []
        if not packs:
            return None
        name = self.repo.write_index(packs)
        self.stats.index_files_written += 1
        self.index.add(name, packs)
        return name

    def _stop_thread(self, drain: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        if not drain:
            self._aborted = True
        self._queue.put(None)
        self._thread.join()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
