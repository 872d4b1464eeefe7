"""The index: which pack holds which blob.

An index file lists whole packs with all their blobs (the same records as a pack header), sealed
like every object. Backups write index files only after the packs they describe are durable, and
snapshots only after their index files are: so every blob a snapshot names is findable, whatever
moment a crash hits. Packs that no index names yet are orphans a later prune removes.

Plaintext layout (little-endian):

    b"CKIX" | u8 version | u32 pack count
    per pack: 32-byte pack id | u64 pack size | u32 blob count | blob records (packs.BLOB_RECORD)

`index_store.MasterIndex` is the union of all index files (kept on disk).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from clawkeeper.backup.packs import BLOB_RECORD, BlobFlags, BlobKind, PackedBlob

INDEX_AAD = b"clawkeeper-index-v1"
MAGIC = b"CKIX"
VERSION = 1
HEADER = struct.Struct("<4sBI")
PACK_RECORD = struct.Struct("<32sQI")


class IndexFormatError(Exception):
    """An index file's plaintext does not parse."""


class IndexEntry(NamedTuple):
    pack_id: str
    kind: BlobKind
    flags: BlobFlags
    offset: int
    length: int
    raw_length: int


@dataclass(frozen=True)
class IndexedPack:
    pack_id: str
    size: int
    blobs: tuple[PackedBlob, ...]


def encode_index(packs: Iterable[IndexedPack]) -> bytes:
    items = list(packs)
    parts = [HEADER.pack(MAGIC, VERSION, len(items))]
    for pack in items:
        parts.append(PACK_RECORD.pack(bytes.fromhex(pack.pack_id), pack.size, len(pack.blobs)))
        parts.extend(
            BLOB_RECORD.pack(b.kind, b.flags, b.blob_id, b.offset, b.length, b.raw_length) for b in pack.blobs
        )
    return b"".join(parts)


_make_entry = IndexEntry._make  # skips the keyword handling of IndexEntry(...): a hot path
_KINDS = {int(k): k for k in BlobKind}
_FLAGS = {int(f): BlobFlags(f) for f in range(2)}


def iter_index(data: bytes) -> Iterator[tuple[str, int, memoryview]]:
    """(pack id, pack size, that pack's blob records) for each pack of an index file's plaintext."""
    try:
        magic, version, count = HEADER.unpack_from(data, 0)
    except struct.error as exc:
        raise IndexFormatError("index is too short") from exc
    if magic != MAGIC or version != VERSION:
        raise IndexFormatError(f"not an index of a version this clawkeeper reads ({magic!r} v{version})")
    view = memoryview(data)
    pos = HEADER.size
    for _ in range(count):
        try:
            raw_id, size, n_blobs = PACK_RECORD.unpack_from(data, pos)
        except struct.error as exc:
            raise IndexFormatError("index ends inside a pack record") from exc
        pos += PACK_RECORD.size
        end = pos + n_blobs * BLOB_RECORD.size
        if end > len(data):
            raise IndexFormatError("index ends inside a pack's blob list")
        yield raw_id.hex(), size, view[pos:end]
        pos = end
    if pos != len(data):
        raise IndexFormatError("index has trailing bytes")


def decode_index(data: bytes) -> list[IndexedPack]:
    try:
        magic, version, count = HEADER.unpack_from(data, 0)
    except struct.error as exc:
        raise IndexFormatError("index is too short") from exc
    if magic != MAGIC or version != VERSION:
        raise IndexFormatError(f"not an index of a version this clawkeeper reads ({magic!r} v{version})")
    pos = HEADER.size
    out: list[IndexedPack] = []
    try:
        for _ in range(count):
            raw_id, size, n_blobs = PACK_RECORD.unpack_from(data, pos)
            pos += PACK_RECORD.size
            end = pos + n_blobs * BLOB_RECORD.size
            if end > len(data):
                raise IndexFormatError("index ends inside a pack's blob list")
            blobs = tuple(
                PackedBlob(blob_id, BlobKind(kind), BlobFlags(flags), offset, length, raw)
                for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(data[pos:end])
            )
            pos = end
            out.append(IndexedPack(raw_id.hex(), size, blobs))
    except (struct.error, ValueError) as exc:
        raise IndexFormatError(f"index is malformed: {exc}") from exc
    if pos != len(data):
        raise IndexFormatError("index has trailing bytes")
    return out


def record_entries(pack_id: str, records: bytes) -> list[tuple[bytes, IndexEntry]]:
    """The (blob id, entry) pairs of one pack's records from `MasterIndex.records_of`."""
    return [
        (blob_id, _make_entry((pack_id, _KINDS[kind], _FLAGS[flags], offset, length, raw)))
        for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(records)
    ]
