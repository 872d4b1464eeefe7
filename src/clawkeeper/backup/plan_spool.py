"""What a backup's scan found, spooled to disk until it is stored.

The scan runs to the end before anything is stored (the progress bar needs the total, and every
database is fingerprinted before the first capture starts), and each planned file, held as
Python objects with its parent's tree line, cost ~1 KB: a 4 GiB agent's 15,000 files took 10 MB
more than a 1 GiB agent's. `PlanSpool` writes each item as one binary record to an unlinked
temporary file (`spoolfile`) and reads them back in order, once; databases, which the
backup handles before storing anything, also stay in memory (`databases`).

Record: `Q` fields (see `_HEAD`) followed by the path (UTF-8, surrogates escaped) and the
parent line, if any.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from clawkeeper.backup.spoolfile import SpoolFile

T = TypeVar("T")

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
        self._file = SpoolFile("clawkeeper-plan-")
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
        self._file.append(
            _HEAD.pack(kind, flags, root, len(raw_path), len(body), head_len, *st) + raw_path + body
        )
        self.count += 1

    def __iter__(self) -> Iterator[T]:
        """The items in scan order (read once)."""
        databases = iter(self.databases)
        with self._file.reader() as reader:
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
