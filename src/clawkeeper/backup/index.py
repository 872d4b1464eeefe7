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
from typing import NamedTuple, cast

from clawkeeper.backup.crypto import ID_SIZE
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
    """The (blob id, entry) pairs of one pack's records from `MasterIndex.pack_records`."""
    return [
        (blob_id, _make_entry((pack_id, _KINDS[kind], _FLAGS[flags], offset, length, raw)))
        for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(records)
    ]


# A location packed into one int (48 bytes in memory, against ~180 for an IndexEntry and its
# three int fields): what keeps a backup's memory small as the repository grows. Fields, from
# the lowest bit: pack number (into `_pack_ids`), kind, flags, offset, stored and raw length.
_PACK_BITS = 24
_MAX_PACKS = 1 << _PACK_BITS
_MASK = (1 << 32) - 1  # offsets and lengths are u32 in every record
_KIND_SHIFT = _PACK_BITS
_FLAGS_SHIFT = _PACK_BITS + 1
_OFFSET_SHIFT = _PACK_BITS + 2
_LENGTH_SHIFT = _OFFSET_SHIFT + 32
_RAW_SHIFT = _LENGTH_SHIFT + 32


def _pack_location(pack_no: int, kind: int, flags: int, offset: int, length: int, raw: int) -> int:
    return (
        pack_no
        | kind << _KIND_SHIFT
        | flags << _FLAGS_SHIFT
        | offset << _OFFSET_SHIFT
        | length << _LENGTH_SHIFT
        | raw << _RAW_SHIFT
    )


@dataclass
class MasterIndex:
    """All index files of a repository, merged. `marked` packs are never preferred.

    Each blob's location is one packed int (see `_pack_location`); `lookup` and `locations`
    unpack it into an `IndexEntry` on demand."""

    marked: frozenset[str] = frozenset()
    pack_sizes: dict[str, int] = field(default_factory=dict)
    pack_index_files: dict[str, set[str]] = field(default_factory=dict)
    index_files: dict[str, list[str]] = field(default_factory=dict)  # index name -> its pack ids
    _entries: dict[bytes, int] = field(default_factory=dict)  # blob id -> preferred location
    _alternates: dict[bytes, list[int]] = field(default_factory=dict)  # other copies (rare)
    _pack_ids: list[str] = field(default_factory=list)
    _pack_nos: dict[str, int] = field(default_factory=dict)
    _marked_nos: set[int] = field(default_factory=set)

    def _pack_no(self, pack_id: str) -> int:
        number = self._pack_nos.get(pack_id)
        if number is None:
            number = len(self._pack_ids)
            if number >= _MAX_PACKS:
                raise IndexFormatError(f"more than {_MAX_PACKS} packs in one repository")
            self._pack_ids.append(pack_id)
            self._pack_nos[pack_id] = number
            if pack_id in self.marked:
                self._marked_nos.add(number)
        return number

    def _place(self, blob_id: bytes, location: int, marked: bool) -> None:
        current = self._entries.get(blob_id)
        if current is None:
            self._entries[blob_id] = location
        elif (current & (_MAX_PACKS - 1)) in self._marked_nos and not marked:
            self._alternates.setdefault(blob_id, []).append(current)
            self._entries[blob_id] = location
        else:
            self._alternates.setdefault(blob_id, []).append(location)

    def _entry(self, location: int) -> IndexEntry:
        fields = (
            self._pack_ids[location & (_MAX_PACKS - 1)],
            _KINDS[(location >> _KIND_SHIFT) & 1],
            _FLAGS[(location >> _FLAGS_SHIFT) & 1],
            (location >> _OFFSET_SHIFT) & _MASK,
            (location >> _LENGTH_SHIFT) & _MASK,
            location >> _RAW_SHIFT,
        )
        return _make_entry(fields)

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
        so records become packed locations without intermediate objects."""
        names = self.index_files.setdefault(index_name, [])
        entries = self._entries
        marked_nos = self._marked_nos
        kind_shift, flags_shift, offset_shift = _KIND_SHIFT, _FLAGS_SHIFT, _OFFSET_SHIFT
        length_shift, raw_shift = _LENGTH_SHIFT, _RAW_SHIFT
        for pack_id, size, records in iter_index(data):
            names.append(pack_id)
            self.pack_index_files.setdefault(pack_id, set()).add(index_name)
            if pack_id in self.pack_sizes:
                continue
            self.pack_sizes[pack_id] = size
            pack_no = self._pack_no(pack_id)
            marked = pack_no in marked_nos
            # _pack_location, inlined: this loop runs once per blob of the repository
            for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(records):
                if kind > 1 or flags > 1:
                    raise IndexFormatError(f"index has an unknown blob kind or flag ({kind}, {flags})")
                location = (
                    pack_no
                    | kind << kind_shift
                    | flags << flags_shift
                    | offset << offset_shift
                    | length << length_shift
                    | raw << raw_shift
                )
                if entries.setdefault(blob_id, location) != location:
                    self._place(blob_id, location, marked)

    def add_pack_blobs(self, pack_id: str, blobs: Iterable[PackedBlob]) -> None:
        pack_no = self._pack_no(pack_id)
        marked = pack_no in self._marked_nos
        for b in blobs:
            location = _pack_location(pack_no, int(b.kind), int(b.flags), b.offset, b.length, b.raw_length)
            self._place(b.blob_id, location, marked)

    def lookup(self, blob_id: bytes) -> IndexEntry | None:
        location = self._entries.get(blob_id)
        return None if location is None else self._entry(location)

    def usable(self, blob_id: bytes) -> bool:
        """True when a backup may dedup against this blob (stored in a pack no prune has marked)."""
        location = self._entries.get(blob_id)
        return location is not None and (location & (_MAX_PACKS - 1)) not in self._marked_nos

    def all_usable(self, blob_ids: bytes) -> bool:
        """`usable` for every id of a concatenated id list (a file's content), in one pass."""
        get = self._entries.get
        marked = self._marked_nos
        mask = _MAX_PACKS - 1
        for i in range(0, len(blob_ids), ID_SIZE):
            location = get(blob_ids[i : i + ID_SIZE])
            if location is None or (location & mask) in marked:
                return False
        return True

    def usable_packs(self, blob_ids: bytes) -> set[int] | None:
        """`all_usable` and `packs_of` in one pass: the numbers of the packs holding the ids of a
        concatenated id list (`pack_ids` names them), or None when one is missing or sits in a
        marked pack. Every unchanged file of a backup comes through here."""
        get = self._entries.get
        mask = _MAX_PACKS - 1
        if len(blob_ids) == ID_SIZE:  # most files are one chunk
            location = get(blob_ids)
            if location is None or (location & mask) in self._marked_nos:
                return None
            return {location & mask}
        locations = list(map(get, [blob_ids[i : i + ID_SIZE] for i in range(0, len(blob_ids), ID_SIZE)]))
        if None in locations:
            return None
        numbers = {location & mask for location in cast("list[int]", locations)}
        if self._marked_nos and not numbers.isdisjoint(self._marked_nos):
            return None
        return numbers

    def pack_ids(self, numbers: Iterable[int]) -> set[str]:
        """The pack ids of pack numbers from `usable_packs`."""
        return {self._pack_ids[n] for n in numbers}

    def packs_of(self, blob_ids: bytes) -> set[str]:
        """The packs holding the (preferred copies of the) ids of a concatenated id list."""
        get = self._entries.get
        mask = _MAX_PACKS - 1
        numbers = set()
        for i in range(0, len(blob_ids), ID_SIZE):
            location = get(blob_ids[i : i + ID_SIZE])
            if location is not None:
                numbers.add(location & mask)
        return {self._pack_ids[n] for n in numbers}

    def locations(self, blob_id: bytes) -> list[IndexEntry]:
        first = self._entries.get(blob_id)
        if first is None:
            return []
        return [self._entry(first), *(self._entry(loc) for loc in self._alternates.get(blob_id, ()))]

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def pack_blobs(self) -> dict[str, list[tuple[bytes, IndexEntry]]]:
        """Every pack with all blobs the index places in it (alternates included)."""
        out: dict[str, list[tuple[bytes, IndexEntry]]] = {pack: [] for pack in self.pack_sizes}
        for blob_id, location in self._entries.items():
            entry = self._entry(location)
            out.setdefault(entry.pack_id, []).append((blob_id, entry))
        for blob_id, locations in self._alternates.items():
            for location in locations:
                entry = self._entry(location)
                out.setdefault(entry.pack_id, []).append((blob_id, entry))
        return out

    def pack_records(self) -> dict[str, bytes]:
        """`pack_blobs` in compact form: each pack's blobs (alternates included) as concatenated
        `BLOB_RECORD`s, ~50 bytes a blob against ~250 for a tuple with an `IndexEntry`. Decode
        one pack at a time with `record_entries`: verify holds every pack's list while it reads
        them, and at 100,000 blobs the tuples alone were 25 MB."""
        parts: dict[int, bytearray] = {}
        pack = BLOB_RECORD.pack
        mask = _MAX_PACKS - 1

        def put(blob_id: bytes, location: int) -> None:
            buffer = parts.get(location & mask)
            if buffer is None:
                buffer = parts[location & mask] = bytearray()
            buffer += pack(
                (location >> _KIND_SHIFT) & 1,
                (location >> _FLAGS_SHIFT) & 1,
                blob_id,
                (location >> _OFFSET_SHIFT) & _MASK,
                (location >> _LENGTH_SHIFT) & _MASK,
                location >> _RAW_SHIFT,
            )

        for blob_id, location in self._entries.items():
            put(blob_id, location)
        for blob_id, locations in self._alternates.items():
            for location in locations:
                put(blob_id, location)
        out = dict.fromkeys(self.pack_sizes, b"")
        for number in list(parts):
            out[self._pack_ids[number]] = bytes(parts.pop(number))
        return out

    def iter_packs(self) -> Iterator[tuple[str, int]]:
        yield from self.pack_sizes.items()
