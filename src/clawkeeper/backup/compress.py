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
# Database pages mix text with random embeddings and barely compress either way: level 1 gives
# the same ratio (measured 1.51 vs 1.52) at twice the speed.
PAGE_LEVEL = 1
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


def decompress_into(payload: bytes | memoryview, raw_length: int, out: memoryview) -> int:
    """`decompress` into the first `raw_length` bytes of the caller's buffer; returns the length.
    Raises zstandard.ZstdError on a damaged frame, or one that holds more or less."""
    target = out[:raw_length]
    done = 0
    with _decompressor().stream_reader(payload) as reader:
        while done < raw_length:
            got = reader.readinto(target[done:])
            if not got:
                break
            done += got
        if done < raw_length or reader.read(1):
            raise zstandard.ZstdError(f"the frame does not hold {raw_length} bytes")
    return done


def compress_object(data: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    return zstandard.ZstdCompressor(level=level).compress(data)


def decompress_object(data: bytes) -> bytes:
    # objects (snapshots, marks) are small and carry their content size in the frame header
    return _decompressor().decompress(data)


def _compressor(level: int) -> zstandard.ZstdCompressor:
    """One zstd context per thread and level (contexts are not thread-safe, and costly to make)."""
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = {}
        _local.compressors = cache
    ctx = cache.get(level)
    if ctx is None:
        ctx = zstandard.ZstdCompressor(level=level, write_content_size=True)
        cache[level] = ctx
    return ctx


def compress_payload(data: bytes | memoryview, level: int) -> tuple[bytes | memoryview, BlobFlags]:
    """zstd when it shrinks the data enough, else the data itself. Safe to call from any thread."""
    packed = _compressor(level).compress(data)
    if len(packed) < len(data) * WORTHWHILE_RATIO:
        return packed, BlobFlags.COMPRESSED
    return data, BlobFlags.NONE


class StreamCompressor:
    """Decides, chunk by chunk, whether compressing one stream is worth a try.

    The compression itself may run on a worker thread (`compress_payload`); results come back
    through `record`, so a stream of incompressible chunks stops being tried.
    """

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self.level = level
        self.enabled = level > 0
        self._raw_streak = 0

    def reset(self) -> None:
        """Call at the start of each file: compressibility is a property of the content."""
        self._raw_streak = 0

    def wants_attempt(self, size: int) -> bool:
        if not self.enabled or size < 64:
            return False
        if self._raw_streak and self._raw_streak % RETRY_EVERY:
            self._raw_streak += 1
            return False
        return True

    def record(self, flags: BlobFlags) -> None:
        if flags is BlobFlags.COMPRESSED:
            self._raw_streak = 0
        else:
            self._raw_streak += 1

    def compress(self, data: bytes | memoryview) -> tuple[bytes | memoryview, BlobFlags]:
        """Decide, compress in this thread, and record: the synchronous form."""
        if not self.wants_attempt(len(data)):
            return data, BlobFlags.NONE
        payload, flags = compress_payload(data, self.level)
        self.record(flags)
        return payload, flags
