"""The entries a restore works through, spooled to disk instead of held in memory.

A restore goes over its entries several times (check them all before writing anything, deal
the files into lanes, write them), and a parsed entry costs ~750 bytes of Python objects: held
in a list, a 4 GiB agent's 15,000 files took twice the memory of a 1 GiB agent's, in each of
the two restore processes. `EntryList` keeps each entry as its tree line in an unlinked temporary
file (`spoolfile`: written a MiB at a time, read back with `pread`, which forked workers can
share) and
parses it again when it is used; in memory stay two small integers per entry (where its line
is and the file's size). Views (`select`, slices) share the spool.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from clawkeeper.backup.spoolfile import SpoolFile
from clawkeeper.backup.tree import Entry, EntryType, parse_tree_line


class _Spool:
    """Entry lines in a spool file, with where each is and its file's size."""

    def __init__(self) -> None:
        self._file = SpoolFile("clawkeeper-restore-")
        self.offsets = array("Q")
        self.lengths = array("I")
        self.sizes = array("Q")  # file sizes (0 for directories and symlinks)

    def append(self, line: bytes, size: int) -> None:
        self.offsets.append(self._file.size)
        self.lengths.append(len(line))
        self.sizes.append(size)
        self._file.append(line)

    def line(self, number: int) -> bytes:
        return self._file.pread(self.offsets[number], self.lengths[number])

    def close(self) -> None:
        self._file.close()


class EntryList(Sequence[Entry]):
    """Entries in snapshot order, parsed when used; `append` them, then read (or `select`)."""

    def __init__(self, spool: _Spool | None = None, numbers: Sequence[int] | None = None) -> None:
        self._spool = spool if spool is not None else _Spool()
        self._numbers = numbers  # None: every entry of the spool

    @classmethod
    def of(cls, entries: Iterable[Entry]) -> EntryList:
        out = cls()
        for entry in entries:
            out.append(entry)
        return out

    def append(self, entry: Entry) -> None:
        if self._numbers is not None:
            raise TypeError("a view of an EntryList cannot grow")
        self._spool.append(entry.serialized(), entry.size if entry.type is EntryType.FILE else 0)

    def _number(self, index: int) -> int:
        if self._numbers is None:
            if index < 0:
                index += len(self._spool.offsets)
            if not 0 <= index < len(self._spool.offsets):
                raise IndexError(index)
            return index
        return self._numbers[index]

    def __len__(self) -> int:
        return len(self._spool.offsets) if self._numbers is None else len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> EntryList: ...

    def __getitem__(self, index: int | slice) -> Entry | EntryList:
        if isinstance(index, slice):
            numbers = range(len(self._spool.offsets)) if self._numbers is None else self._numbers
            return EntryList(self._spool, numbers[index])
        entry = parse_tree_line(self._spool.line(self._number(index)))
        entry.line = None  # parsed again when needed: a database's line is megabytes of hex
        return entry

    def __iter__(self) -> Iterator[Entry]:
        for index in range(len(self)):
            yield self[index]

    def select(self, indices: Iterable[int]) -> EntryList:
        """A view of the entries at `indices` (positions in this list), in that order."""
        if self._numbers is None:
            return EntryList(self._spool, array("Q", indices))
        return EntryList(self._spool, array("Q", (self._numbers[i] for i in indices)))

    def sizes(self) -> list[int]:
        """Every entry's file size (0 for directories and symlinks), without parsing."""
        if self._numbers is None:
            return list(self._spool.sizes)
        sizes = self._spool.sizes
        return [sizes[n] for n in self._numbers]

    def close(self) -> None:
        self._spool.close()


def sizes_of(files: Sequence[Entry]) -> list[int]:
    """The sizes of `files`, from the spool when it is an `EntryList`."""
    return files.sizes() if isinstance(files, EntryList) else [entry.size for entry in files]


def subset(files: Sequence[Entry], indices: Iterable[int]) -> Sequence[Entry]:
    """The entries of `files` at `indices` (a view when `files` is an `EntryList`)."""
    if isinstance(files, EntryList):
        return files.select(indices)
    return [files[i] for i in indices]
