"""Reading many blobs at once: one request per pack region instead of one per blob.

Restore wants every chunk of every file. Fetching them one by one costs a read request and a
Python round trip per chunk, which for a database stored as one blob per 4 KiB page is most of
the restore (and for a remote repository, one network round trip per page). `open_batch` takes
a batch of wanted blobs, reads each pack region they lie in with one `read_range` (neighbouring
blobs coalesced, gaps up to `MAX_GAP` read through), then opens every blob: decrypt,
decompress, check against its id.

A blob that does not open from the region read is read again through `Repository.read_blob`,
which tries every stored copy and raises `BlobCorrupt` when none is good.

Given the calling thread's `Buffers`, the regions are read and the blobs decrypted into them
instead of new buffers (`buffers`); the plaintexts returned then include views of those buffers,
valid until the thread's next batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from clawkeeper.backup.buffers import Buffers
from clawkeeper.backup.index import IndexEntry
from clawkeeper.backup.packs import pack_object_name
from clawkeeper.backup.repository import BlobCorrupt, Repository, opening_room
from clawkeeper.backup.targets.base import ObjectMissing, TargetError

# Neighbouring blobs closer than this are read with the bytes between them: one request instead
# of two. A region never grows past MAX_SPAN.
MAX_GAP = 256 * 1024
MAX_SPAN = 16 * 1024 * 1024


@dataclass(frozen=True)
class Wanted:
    blob_id: bytes
    label: str  # what the blob belongs to, for messages (a file's path)
    entry: IndexEntry | None  # from the index; None: not there (reported when the batch runs)


def spans(wanted: list[Wanted]) -> list[tuple[str, int, int]]:
    """(pack id, start, end) regions covering every wanted blob, few and tight."""
    ranges = sorted(
        {(e.pack_id, e.offset, e.offset + e.length) for e in (w.entry for w in wanted) if e is not None}
    )
    out: list[tuple[str, int, int]] = []
    for pack_id, start, end in ranges:
        if out:
            last_pack, last_start, last_end = out[-1]
            near = start - last_end <= MAX_GAP and max(end, last_end) - last_start <= MAX_SPAN
            if last_pack == pack_id and near:
                out[-1] = (pack_id, last_start, max(end, last_end))
                continue
        out.append((pack_id, start, end))
    return out


def open_batch(
    repo: Repository, wanted: list[Wanted], *, rehash: bool = True, buffers: Buffers | None = None
) -> list[bytes | memoryview]:
    """The plaintexts of `wanted`, in order, each checked against its id (safe on any thread);
    `rehash=False` trusts an authenticating cipher's proof instead (`Repository.open_blob`).
    With `buffers`, some plaintexts are views of them (see the module's doc).

    Raises BlobCorrupt, naming the blob's label, when a blob is missing or has no good copy."""
    plan = spans(wanted)
    read_into: Callable[[str, int, memoryview], None] | None = getattr(repo.target, "read_range_into", None)
    room = None
    if buffers is not None and read_into is not None:
        room = buffers.view("regions", sum(end - start for _, start, end in plan))
    regions: dict[str, list[tuple[int, int, memoryview | None]]] = {}
    used = 0
    for pack_id, start, end in plan:
        data: memoryview | None
        try:
            if room is not None and read_into is not None:
                data = room[used : used + end - start]
                used += end - start
                read_into(pack_object_name(pack_id), start, data)
            else:
                data = memoryview(repo.target.read_range(pack_object_name(pack_id), start, end - start))
        except (OSError, TargetError, ObjectMissing):
            data = None  # each blob in it falls back to read_blob, which reports what is wrong
        regions.setdefault(pack_id, []).append((start, end, data))
    plain = None
    if buffers is not None:
        plain = buffers.view("plain", sum(opening_room(w.entry) for w in wanted if w.entry is not None))
    out: list[bytes | memoryview] = []
    used = 0
    for want in wanted:
        entry = want.entry
        if entry is None:
            raise BlobCorrupt(f"{want.label}: chunk {want.blob_id.hex()[:12]} is missing from the repository")
        sealed = _sealed(regions[entry.pack_id], entry)
        size = opening_room(entry)
        into = None if plain is None else plain[used : used + size]
        used += size
        out.append(_open_one(repo, want, entry, sealed, rehash, into))
    return out


def _sealed(regions: list[tuple[int, int, memoryview | None]], entry: IndexEntry) -> memoryview | None:
    end = entry.offset + entry.length
    for start, stop, data in regions:
        if start <= entry.offset and end <= stop:
            return None if data is None else data[entry.offset - start : end - start]
    return None


def _open_one(
    repo: Repository,
    want: Wanted,
    entry: IndexEntry,
    sealed: memoryview | None,
    rehash: bool,
    into: memoryview | None,
) -> bytes | memoryview:
    if sealed is not None and len(sealed) == entry.length:
        try:
            if into is None:
                return repo.open_blob(want.blob_id, entry, sealed, rehash=rehash)
            return repo.open_blob_into(want.blob_id, entry, sealed, into, rehash=rehash)
        except BlobCorrupt:
            pass  # another stored copy may be good
    try:
        return repo.read_blob(want.blob_id)
    except BlobCorrupt as exc:
        raise BlobCorrupt(f"{want.label}: {exc}") from exc
