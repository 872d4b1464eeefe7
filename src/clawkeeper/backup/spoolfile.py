"""An append-only, unlinked temporary file (0600, gone once closed): where a command puts what
it would otherwise hold in memory until it needs it again (a restore's entries, a backup's
scan). Appends are buffered a MiB at a time; reads are positional (`pread`, which forked
workers sharing the file can do too) or one sequential pass from the start.
"""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO

FLUSH_BYTES = 1024 * 1024


class SpoolFile:
    def __init__(self, prefix: str) -> None:
        self._file = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - closed by close()
        self._pending = bytearray()
        self._written = 0

    @property
    def size(self) -> int:
        """Bytes appended so far (where the next append lands)."""
        return self._written + len(self._pending)

    def append(self, data: bytes) -> None:
        self._pending += data
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:  # positional writes: a reader's file position is shared with this fd
            view = memoryview(self._pending)
            while view:
                done = os.pwrite(self._file.fileno(), view, self._written)
                self._written += done
                view = view[done:]
            self._pending = bytearray()

    def pread(self, offset: int, length: int) -> bytes:
        if offset + length > self._written:
            self.flush()
        out = os.pread(self._file.fileno(), length, offset)
        while len(out) < length:  # a short read: keep reading
            more = os.pread(self._file.fileno(), length - len(out), offset + len(out))
            if not more:
                raise OSError(f"spool file ends at {offset + len(out)}, before {offset + length}")
            out += more
        return out

    def reader(self) -> BinaryIO:
        """Everything appended, read from the start (a file of its own: close it when done)."""
        self.flush()
        fd = os.dup(self._file.fileno())
        os.lseek(fd, 0, os.SEEK_SET)
        return os.fdopen(fd, "rb", buffering=FLUSH_BYTES)

    def close(self) -> None:
        self._file.close()
