"""What a backup's scan found, spooled to disk until it is stored.

The scan runs to the end before anything is stored (the progress bar needs the total, and every
database is fingerprinted before the first capture starts), and each planned file, held as
Python objects with its parent's tree line, cost ~1 KB: a 4 GiB agent's 15,000 files took 10 MB
more than a 1 GiB agent's. `PlanSpool` writes each item as one binary record to an unlinked
temporary file (a MiB at a time) and reads them back in order, once; databases, which the
backup handles before storing anything, also stay in memory (`databases`).

Record: `Q` fields (see `_HEAD`) followed by the path (UTF-8, surrogates escaped) and the
parent line, if any.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

FLUSH_BYTES = 1024 * 1024
# kind, flags (bit 0: in `databases`), root number, path length, line length, head length, then
# the kept stat fields: mode, size, mtime, ctime, inode, uid, gid
_HEAD = struct.Struct("<BBHIIIQQqqQQQ")
_IS_DATABASE = 1


class PlanSpool(Generic[T]):
    """Items appended during the scan, read back once in the same order.

    `pack(item)` gives (kind, root number, path, line, head length, stat fields); `unpack(...)`
    rebuilds an item from the same. Items for which `keep(item)` is true are held in memory
    (`databases`) and handed back as the very same objects."""

    def __init__(
        self,
        pack: Callable[[T], tuple[int, int, str, bytes | None, int, tuple[int, ...]]],
        unpack: Callable[[int, int, str, bytes | None, int, tuple[int, ...]], T],
        keep: Callable[[T], bool],
    ) -> None:
        self._pack, self._unpack, self._keep = pack, unpack, keep
        self._file = tempfile.TemporaryFile(prefix="clawkeeper-plan-")  # noqa: SIM115 - closed by close()
        self._pending = bytearray()
        self.databases: list[T] = []
        self.count = 0

    def append(self, item: T) -> None:
        kind, root, path, line, head_len, st = self._pack(item)
        raw_path = path.encode("utf-8", "surrogateescape")
        flags = 0
        if self._keep(item):
            flags = _IS_DATABASE
            self.databases.append(item)
            line = None
        body = line or b""
        self._pending += _HEAD.pack(kind, flags, root, len(raw_path), len(body), head_len, *st)
        self._pending += raw_path
        self._pending += body
        self.count += 1
        if len(self._pending) >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._file.write(self._pending)
            self._pending = bytearray()

    def __iter__(self) -> Iterator[T]:
        """The items in scan order (read once)."""
        self._flush()
        self._file.flush()
        self._file.seek(0)
        reader = os.fdopen(os.dup(self._file.fileno()), "rb", buffering=FLUSH_BYTES)
        databases = iter(self.databases)
        with reader:
            for _ in range(self.count):
                head = reader.read(_HEAD.size)
                kind, flags, root, path_len, line_len, head_len, *st = _HEAD.unpack(head)
                path = reader.read(path_len).decode("utf-8", "surrogateescape")
                line = reader.read(line_len) if line_len else None
                if flags & _IS_DATABASE:
                    yield next(databases)
                else:
                    yield self._unpack(kind, root, path, line, head_len, tuple(st))

    def close(self) -> None:
        self._file.close()
