"""Buffers a thread keeps and reuses, instead of allocating new ones for every batch.

A fresh buffer of a megabyte or more costs the kernel a page fault and a zeroed page every
4 KiB (on these project's virtual machines, also the host backing the page again): about a fifth
of a restore's CPU time went there when every pack region, decrypted chunk and decompressed
frame had a new one. Restore and verify workers read, decrypt and decompress into their
thread's `Buffers` instead (`blobstream.open_batch`, `Repository.open_blob_into`), and restore
stages its direct writes in one (`direct_io`).
"""

from __future__ import annotations

import mmap
import threading

RESERVED = 32 * 1024 * 1024  # address space reserved per buffer; pages are used as touched


class Buffers:
    """One buffer per purpose, each grown to the largest request seen and never shrunk.

    Anonymous maps, not bytearrays: the kernel provides a page only when it is first touched, so
    reserving room for the largest batch up front costs nothing until it is used, nothing is
    zeroed by hand, and every buffer starts on a page boundary (what direct I/O needs)."""

    def __init__(self) -> None:
        self._maps: dict[str, mmap.mmap] = {}

    def view(self, purpose: str, size: int) -> memoryview:
        """`size` bytes of the buffer for `purpose`, valid until the next request for it."""
        buffer = self._maps.get(purpose)
        if buffer is None or len(buffer) < size:
            # a new map, not a resized one: views of the old may still be alive (it is unmapped
            # once they are gone)
            buffer = mmap.mmap(-1, max(RESERVED, -(-size // mmap.PAGESIZE) * mmap.PAGESIZE))
            self._maps[purpose] = buffer
        return memoryview(buffer)[:size]


_local = threading.local()


def thread_buffers() -> Buffers:
    """This thread's buffers."""
    buffers: Buffers | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = Buffers()
    return buffers
