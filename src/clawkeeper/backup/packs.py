"""Packs: many sealed blobs in one immutable file, with an encrypted header at the end.

Layout of a pack (all integers little-endian):

    blob_0 | blob_1 | ... | blob_n-1 | sealed header | u32 length of the sealed header

Each blob is `seal(payload, aad=blob id)` where payload is the chunk, zstd-compressed when that
made it smaller. The header lists, per blob, its kind, flags, id, offset, stored length and raw
length (see `BLOB_RECORD`). It is sealed too, so nobody without the key learns where chunk
boundaries fall. A pack's name is the unkeyed BLAKE3 of its bytes, so a flipped bit shows up as a
name mismatch before any key is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from clawkeeper.backup.crypto import ID_SIZE, AuthenticationFailed, Cipher

PACK_HEADER_AAD = b"clawkeeper-pack-header-v1"
BLOB_RECORD = struct.Struct("<BB32sIII")  # kind, flags, id, offset, stored length, raw length
TRAILER = struct.Struct("<I")
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
MiB = 1024 * 1024
TREE_PACK_SIZE = MiB  # packs of file lists and chunk lists


class BlobKind(IntEnum):
    DATA = 0  # file content
    TREE = 1  # snapshot tree (file list) streams


class BlobFlags(IntFlag):
    NONE = 0
    COMPRESSED = 1  # payload is a zstd frame


@dataclass(frozen=True, slots=True)  # slots: a backup holds one per blob until it is indexed
class PackedBlob:
    blob_id: bytes
    kind: BlobKind
    flags: BlobFlags
    offset: int
    length: int  # stored (sealed) length
    raw_length: int  # plaintext length after decompression


class PackFormatError(Exception):
    """A pack's trailer or header cannot be read (truncated, wrong key, corrupted)."""


class PackBuilder:
    """Accumulates sealed blobs of one kind until the pack is big enough to write."""

    def __init__(
        self,
        cipher: Cipher,
        kind: BlobKind,
        target_size: int = DEFAULT_PACK_SIZE,
        buffer: bytearray | None = None,
    ) -> None:
        self.cipher = cipher
        self.kind = kind
        # file lists and chunk lists get small packs of their own: their buffer lives as long as
        # the backup, and a 4 GiB agent's 6 MB of lists must not hold more than a 1 GiB one's
        self.target_size = target_size if kind is BlobKind.DATA else min(target_size, TREE_PACK_SIZE)
        # the buffer never grows past this (`fits` says when to start a new pack instead), so
        # memory does not depend on where large chunks happen to fall; a recycled one saves
        # zero-filling 17 MiB per pack
        capacity = self.target_size + MiB
        self._buffer = buffer if buffer is not None and len(buffer) >= capacity else bytearray(capacity)
        self._used = 0
        self.blobs: list[PackedBlob] = []

    @property
    def size(self) -> int:
        return self._used

    @property
    def full(self) -> bool:
        return self._used >= self.target_size

    def __len__(self) -> int:
        return len(self.blobs)

    def fits(self, payload_length: int) -> bool:
        """Whether a payload still goes in without growing the buffer (header and trailer
        included); when not, the writer finishes this pack first."""
        need = payload_length + self.cipher.overhead
        tail = (len(self.blobs) + 1) * BLOB_RECORD.size + self.cipher.overhead + TRAILER.size
        return self._used + need + tail <= len(self._buffer)

    def add(
        self, blob_id: bytes, payload: bytes | memoryview, raw_length: int, flags: BlobFlags
    ) -> PackedBlob:
        need = len(payload) + self.cipher.overhead
        if self._used + need > len(self._buffer):  # a chunk larger than an empty pack's room
            self._buffer.extend(bytes(self._used + need - len(self._buffer) + MiB))
        out = memoryview(self._buffer)[self._used : self._used + need]
        written = self.cipher.seal_into(payload, blob_id, out)
        blob = PackedBlob(blob_id, self.kind, flags, self._used, written, raw_length)
        self._used += written
        self.blobs.append(blob)
        return blob

    def finish(self) -> tuple[memoryview, list[PackedBlob], bytearray]:
        """Seal the header; returns (pack bytes, blobs, the underlying buffer for reuse).

        The pack id is `content_name(pack bytes)`, left to the caller (a writer thread hashes it
        while the next pack fills). The builder is spent afterwards."""
        header = b"".join(
            BLOB_RECORD.pack(b.kind, b.flags, b.blob_id, b.offset, b.length, b.raw_length) for b in self.blobs
        )
        sealed = self.cipher.seal(header, PACK_HEADER_AAD)
        tail = sealed + TRAILER.pack(len(sealed))
        end = self._used + len(tail)
        if end > len(self._buffer):
            self._buffer.extend(bytes(end - len(self._buffer)))
        self._buffer[self._used : end] = tail
        return memoryview(self._buffer)[:end], self.blobs, self._buffer


def parse_pack(data: bytes | memoryview, cipher: Cipher) -> list[PackedBlob]:
    """The blob list of a whole pack, from its own header. Raises PackFormatError."""
    size = len(data)
    if size < TRAILER.size:
        raise PackFormatError("pack is shorter than its trailer")
    (header_len,) = TRAILER.unpack_from(data, size - TRAILER.size)
    start = size - TRAILER.size - header_len
    if header_len <= 0 or start < 0:
        raise PackFormatError("pack trailer points outside the pack (truncated?)")
    try:
        header = cipher.open(memoryview(data)[start : size - TRAILER.size], PACK_HEADER_AAD)
    except AuthenticationFailed as exc:
        raise PackFormatError("pack header does not authenticate (corrupted)") from exc
    if len(header) % BLOB_RECORD.size:
        raise PackFormatError("pack header has a partial record")
    blobs: list[PackedBlob] = []
    for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(header):
        if offset + length > start or len(blob_id) != ID_SIZE:
            raise PackFormatError("pack header lists a blob outside the pack")
        try:
            blobs.append(PackedBlob(blob_id, BlobKind(kind), BlobFlags(flags), offset, length, raw))
        except ValueError as exc:
            raise PackFormatError(f"pack header has an unknown blob kind {kind}") from exc
    return blobs


def pack_object_name(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def pack_id_from_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]
