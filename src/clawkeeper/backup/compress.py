"""zstd for blobs and objects, skipped where it does not pay.

Model weights, cold `.zst` archives and encrypted files do not compress. zstd gives up quickly on
them, but not for free, so a stream whose chunks stop shrinking is stored raw, with a fresh try
every few chunks in case the content changes (a tar of mixed files, say).
"""

from __future__ import annotations

import threading

import zstandard

from clawkeeper.backup.packs import BlobFlags

DEFAULT_LEVEL = 3
# A chunk must shrink below this fraction of its size to be stored compressed.
WORTHWHILE_RATIO = 0.97
RETRY_EVERY = 16  # chunks stored raw before compression is tried again on the same stream

_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "decompressor", None)
    if d is None:
        d = zstandard.ZstdDecompressor()
        _local.decompressor = d
    return d


def decompress(payload: bytes | memoryview, raw_length: int) -> bytes:
    """Raises zstandard.ZstdError on a damaged frame."""
    return _decompressor().decompress(payload, max_output_size=raw_length)


def compress_object(data: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    return zstandard.ZstdCompressor(level=level).compress(data)


def decompress_object(data: bytes) -> bytes:
    # objects (snapshots, marks) are small and carry their content size in the frame header
    return _decompressor().decompress(data)


class StreamCompressor:
    """Compresses the chunks of one stream, remembering whether compression has been paying."""

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self._zstd = zstandard.ZstdCompressor(level=level, write_content_size=True)
        self.level = level
        self._raw_streak = 0
        self.enabled = level > 0

    def reset(self) -> None:
        """Call at the start of each file: compressibility is a property of the content."""
        self._raw_streak = 0

    def compress(self, data: bytes | memoryview) -> tuple[bytes | memoryview, BlobFlags]:
        if not self.enabled or len(data) < 64:
            return data, BlobFlags.NONE
        if self._raw_streak and self._raw_streak % RETRY_EVERY:
            self._raw_streak += 1
            return data, BlobFlags.NONE
        packed = self._zstd.compress(data)
        if len(packed) < len(data) * WORTHWHILE_RATIO:
            self._raw_streak = 0
            return packed, BlobFlags.COMPRESSED
        self._raw_streak += 1
        return data, BlobFlags.NONE
