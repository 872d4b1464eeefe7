"""The index: which pack holds which blob.

An index file lists whole packs with all their blobs (the same records as a pack header), sealed
like every object. Backups write index files only after the packs they describe are durable, and
snapshots only after their index files are: so every blob a snapshot names is findable, whatever
moment a crash hits. Packs that no index names yet are orphans a later prune removes.

Plaintext layout (little-endian):

    b"CKIX" | u8 version | u32 pack count
    per pack: 32-byte pack id | u64 pack size | u32 blob count | blob records (packs.BLOB_RECORD)

`MasterIndex` is the in-memory union of all index files. A blob stored twice (two concurrent
backups, or a repack) has one preferred location and some alternates; packs marked for deletion
by a pending prune are never preferred, and backups do not dedup against them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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


@dataclass
class MasterIndex:
    """All index files of a repository, merged. `marked` packs are never preferred."""

    marked: frozenset[str] = frozenset()
    entries: dict[bytes, IndexEntry] = field(default_factory=dict)
    alternates: dict[bytes, list[IndexEntry]] = field(default_factory=dict)
    pack_sizes: dict[str, int] = field(default_factory=dict)
    pack_index_files: dict[str, set[str]] = field(default_factory=dict)
    index_files: dict[str, list[str]] = field(default_factory=dict)  # index name -> its pack ids

    def add(self, index_name: str, packs: Iterable[IndexedPack]) -> None:
        names = self.index_files.setdefault(index_name, [])
        for pack in packs:
            names.append(pack.pack_id)
            self.pack_index_files.setdefault(pack.pack_id, set()).add(index_name)
            if pack.pack_id in self.pack_sizes:
                continue  # the same pack listed by two index files (a prune consolidated them)
            self.pack_sizes[pack.pack_id] = pack.size
            self.add_pack_blobs(pack.pack_id, pack.blobs)

    def add_encoded(self, index_name: str, data: bytes) -> None:
        """`add` straight from an index file's plaintext: the hot path of every backup's start,
        so records become index entries without intermediate objects."""
        names = self.index_files.setdefault(index_name, [])
        entries = self.entries
        marked_packs = self.marked
        for pack_id, size, records in iter_index(data):
            names.append(pack_id)
            self.pack_index_files.setdefault(pack_id, set()).add(index_name)
            if pack_id in self.pack_sizes:
                continue
            self.pack_sizes[pack_id] = size
            marked = pack_id in marked_packs
            try:
                for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(records):
                    entry = IndexEntry(pack_id, _KINDS[kind], _FLAGS[flags], offset, length, raw)
                    current = entries.get(blob_id)
                    if current is None:
                        entries[blob_id] = entry
                    elif current.pack_id in marked_packs and not marked:
                        self.alternates.setdefault(blob_id, []).append(current)
                        entries[blob_id] = entry
                    else:
                        self.alternates.setdefault(blob_id, []).append(entry)
            except KeyError as exc:
                raise IndexFormatError(f"index has an unknown blob kind or flag {exc}") from exc

    def add_pack_blobs(self, pack_id: str, blobs: Iterable[PackedBlob]) -> None:
        marked = pack_id in self.marked
        for b in blobs:
            entry = IndexEntry(pack_id, b.kind, b.flags, b.offset, b.length, b.raw_length)
            current = self.entries.get(b.blob_id)
            if current is None:
                self.entries[b.blob_id] = entry
            elif current.pack_id in self.marked and not marked:
                self.alternates.setdefault(b.blob_id, []).append(current)
                self.entries[b.blob_id] = entry
            else:
                self.alternates.setdefault(b.blob_id, []).append(entry)

    def lookup(self, blob_id: bytes) -> IndexEntry | None:
        return self.entries.get(blob_id)

    def usable(self, blob_id: bytes) -> bool:
        """True when a backup may dedup against this blob (stored in a pack no prune has marked)."""
        entry = self.entries.get(blob_id)
        return entry is not None and entry.pack_id not in self.marked

    def locations(self, blob_id: bytes) -> list[IndexEntry]:
        first = self.entries.get(blob_id)
        if first is None:
            return []
        return [first, *self.alternates.get(blob_id, ())]

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def pack_blobs(self) -> dict[str, list[tuple[bytes, IndexEntry]]]:
        """Every pack with all blobs the index places in it (alternates included)."""
        out: dict[str, list[tuple[bytes, IndexEntry]]] = {pack: [] for pack in self.pack_sizes}
        for blob_id, entry in self.entries.items():
            out.setdefault(entry.pack_id, []).append((blob_id, entry))
        for blob_id, entries in self.alternates.items():
            for entry in entries:
                out.setdefault(entry.pack_id, []).append((blob_id, entry))
        return out

    def iter_packs(self) -> Iterator[tuple[str, int]]:
        yield from self.pack_sizes.items()
