"""Cutting byte streams into chunks: content-defined for ordinary files, page-aligned for SQLite.

Content-defined chunking (FastCDC via pyfastcdc) finds the same boundaries around unchanged
content, so an append to a transcript re-stores only its last chunk. The gear table is seeded per
repository; boundaries stay hidden because blobs sit inside encrypted packs whose headers are
encrypted too.

SQLite rewrites fixed-size pages in place all over the file, so any content-defined chunk a few
hundred KiB long would contain a dirty page after a handful of updates. A backup-API image is
page-identical to the live database, so cutting it at page boundaries stores just the changed
pages (measured: ~5 % of the file for 2,000 row changes in a 110 MB database, against ~98 % with
1 MiB content-defined chunks).

Both generators yield memoryviews into a reused buffer: a view is valid only until the next one
is requested. That keeps memory flat whatever the file size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC sizes. pyfastcdc's mean chunk is about avg_size + min_size."""

    min_size: int
    avg_size: int
    max_size: int

    def to_json(self) -> dict[str, int]:
        return {"min_size": self.min_size, "avg_size": self.avg_size, "max_size": self.max_size}

    @classmethod
    def from_json(cls, data: dict[str, int]) -> ChunkerParams:
        return cls(
            min_size=int(data["min_size"]), avg_size=int(data["avg_size"]), max_size=int(data["max_size"])
        )


# Files: ~768 KiB mean chunks. Most transcripts (tens of KiB) are one chunk; large files
# dedup at sub-MiB granularity without an index entry per few KiB.
FILE_CHUNKER = ChunkerParams(min_size=256 * KiB, avg_size=512 * KiB, max_size=4 * MiB)
# Snapshot trees: small chunks so an unchanged stretch of the file list dedups.
TREE_CHUNKER = ChunkerParams(min_size=16 * KiB, avg_size=64 * KiB, max_size=256 * KiB)
# Read size for page-aligned chunking.
FIXED_READ_SIZE = 4 * MiB


class ContentChunker:
    """A reusable FastCDC chunker (not thread-safe: one per thread)."""

    def __init__(self, params: ChunkerParams, seed: int) -> None:
        self.params = params
        self._cdc = FastCDC(
            avg_size=params.avg_size, min_size=params.min_size, max_size=params.max_size, seed=seed
        )

    def stream(self, source: BinaryIO) -> Iterator[memoryview]:
        for chunk in self._cdc.cut_stream(source):
            yield chunk.data

    def buffer(self, data: bytes | bytearray | memoryview) -> Iterator[memoryview]:
        for chunk in self._cdc.cut_buf(data):
            yield chunk.data


def fixed_chunks(source: BinaryIO, size: int, *, limit: int | None = None) -> Iterator[memoryview]:
    """Chunks of exactly `size` bytes (the last may be shorter), at most `limit` bytes in all."""
    for block in fixed_blocks(source, size, limit=limit):
        for start in range(0, len(block), size):
            yield block[start : start + size]


def fixed_blocks(source: BinaryIO, size: int, *, limit: int | None = None) -> Iterator[memoryview]:
    """The same stream as `fixed_chunks`, a few MiB at a time: each block holds whole `size`-byte
    chunks (only the last block may end in a shorter one). Callers that cut the chunks themselves
    save a generator step per chunk — per database page, that is."""
    if size <= 0:
        raise ValueError("chunk size must be positive")
    block = max(size, (FIXED_READ_SIZE // size) * size)
    buffer = bytearray(block)
    view = memoryview(buffer)
    remaining = limit
    while remaining is None or remaining > 0:
        want = block if remaining is None else min(block, remaining)
        got = _read_fully(source, view[:want])
        if got == 0:
            return
        if remaining is not None:
            remaining -= got
        yield view[:got]
        if got < want:
            return


def _read_fully(source: BinaryIO, view: memoryview) -> int:
    total = 0
    while total < len(view):
        got = source.readinto(view[total:])  # type: ignore[attr-defined]
        if not got:
            break
        total += got
    return total
