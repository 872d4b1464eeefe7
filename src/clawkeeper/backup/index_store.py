"""The master index, kept on disk: which pack holds each blob of the repository.

Held in a dict, the union of all index files grew with the repository (~130 bytes a blob, and a
4 GiB agent is ~150,000 blobs, most of them database pages), and every forked restore or verify
worker copied the pages it touched. Here it is a private SQLite file under the temporary folder,
built from the index files when a command starts and deleted when the index is dropped;
SQLite's page cache is bounded (`scratchdb.CACHE_KIB`), so a backup, a restore or a verify needs
the same memory whatever the size of the repository. Pack-level facts (one pack per ~16 MiB)
stay in memory.

    packs(no, records)      each pack's blob records as its index file lists them (`BLOB_RECORD`s)
    blobs(id, loc, lens)    one row per stored copy of a blob:
                            loc  = pack number << 34 | flags << 33 | kind << 32 | offset
                            lens = (stored length | raw length << 32) - 2**63

Rows of one blob come back in pack order (the order the index files were read). A blob stored
twice (two concurrent backups, or a repack) has one preferred copy, the first one outside the
packs a pending prune has marked; backups never dedup against a marked pack.

Lookups in bulk (`usable_among`, `lookup_many`, `lookup_map`, `usable_pack_numbers`) cost ~1 µs
a blob, a single one ~5 µs: callers with many ids at hand (a database's pages, a run of files)
ask for all of them at once. Each process uses its own connection: a forked worker opens the
file again, read-only.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.backup import scratchdb
from clawkeeper.backup.crypto import ID_SIZE
from clawkeeper.backup.index import (
    _FLAGS,
    _KINDS,
    IndexedPack,
    IndexEntry,
    IndexFormatError,
    iter_index,
    record_entries,
)
from clawkeeper.backup.packs import BLOB_RECORD
from clawkeeper.backup.tree import split_ids

BATCH = 500  # ids per bulk query (SQLite allows 32,766 parameters)
_PACK_SHIFT = 34
_MAX_PACKS = 1 << 24
_U32 = (1 << 32) - 1
_BIAS = 1 << 63  # lens is stored less this, to fit SQLite's signed 64-bit integers
_make_entry = IndexEntry._make

_SCHEMA = """
CREATE TABLE packs(no INTEGER PRIMARY KEY, records BLOB NOT NULL);
CREATE TABLE blobs(id BLOB NOT NULL, loc INTEGER NOT NULL, lens INTEGER NOT NULL, PRIMARY KEY (id, loc))
    WITHOUT ROWID;
"""


# what the bulk queries select (see `MasterIndex._in_sql`)
_LOCATIONS = "group_concat(hex(id) || ':' || loc || ':' || lens, ',')"
_COUNT_AND_PACKS = f"count(DISTINCT id), group_concat(DISTINCT loc >> {_PACK_SHIFT})"
_IDS = "group_concat(hex(id), '')"


def _rows(pack_no: int, records: bytes | memoryview) -> list[tuple[bytes, int, int]]:
    base = pack_no << _PACK_SHIFT
    out = []
    for kind, flags, blob_id, offset, length, raw in BLOB_RECORD.iter_unpack(records):
        if kind > 1 or flags > 1:
            raise IndexFormatError(f"index has an unknown blob kind or flag ({kind}, {flags})")
        out.append((blob_id, base | flags << 33 | kind << 32 | offset, (length | raw << 32) - _BIAS))
    return out


@dataclass(eq=False)
class MasterIndex:
    """All index files of a repository, merged, on disk. `marked` packs are never preferred."""

    marked: frozenset[str] = frozenset()
    pack_sizes: dict[str, int] = field(default_factory=dict)
    pack_index_files: dict[str, set[str]] = field(default_factory=dict)
    index_files: dict[str, list[str]] = field(default_factory=dict)  # index name -> its pack ids
    _pack_ids: list[str] = field(default_factory=list)
    _pack_nos: dict[str, int] = field(default_factory=dict)
    _marked_nos: set[int] = field(default_factory=set)
    _seed: Callable[[str], None] | None = None  # writes a kept index's file (`restored`)
    restored_files: frozenset[str] | None = None  # the index files a kept copy brought (`restored`)

    def __post_init__(self) -> None:
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._sql: dict[tuple[str, int], str] = {}  # (what it selects, how many ids) -> SQL
        self._path, self._db, self._finalizer = scratchdb.create(self, "index", _SCHEMA, seed=self._seed)
        self._seed = None
        self._db_pid = self._owner

    # kept between commands (`index_cache`) -----------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What besides its file the index needs to be `restored` (pack-level facts only)."""
        return {
            "packs": [[pack_id, self.pack_sizes[pack_id]] for pack_id in self._pack_ids],
            "index_files": self.index_files,
        }

    @classmethod
    def restored(
        cls, state: dict[str, Any], seed: Callable[[str], None], marked: frozenset[str] = frozenset()
    ) -> MasterIndex:
        """An index whose file `seed(path)` writes (a copy of one saved with its `state`).
        Raises KeyError, TypeError or ValueError on a state that does not parse."""
        index = cls(marked=marked, _seed=seed, restored_files=frozenset(state["index_files"]))
        for pack_id, size in state["packs"]:
            index._pack_no(str(pack_id))
            index.pack_sizes[str(pack_id)] = int(size)
        for name, pack_ids in state["index_files"].items():
            index.index_files[str(name)] = [str(p) for p in pack_ids]
            for pack_id in pack_ids:
                index.pack_index_files.setdefault(str(pack_id), set()).add(str(name))
        return index

    def file_chunks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        """The index file's bytes, for keeping a copy, once nothing adds to the index any more
        (every insert commits before it returns, and with no journal a commit is in the file)."""
        with Path(self._path).open("rb") as handle:
            while chunk := handle.read(size):
                yield chunk

    # connections ------------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        if self._db_pid != os.getpid():  # a forked worker: the parent's connection is not ours
            self._lock = threading.Lock()  # nor is a lock some other thread of the parent held
            self._db = scratchdb.connect(self._path, write=False)
            self._db_pid = os.getpid()
        return self._db

    def _query(self, sql: str, params: Sequence[object]) -> list[Any]:
        db = self._con()
        with self._lock:
            return db.execute(sql, params).fetchall()

    def _in_sql(self, count: int, select: str = _LOCATIONS) -> str:
        """`SELECT {select} FROM blobs WHERE id IN (count placeholders)`, made once per shape.
        Each shape returns one row for the whole batch: Python's sqlite3 lets go of the GIL
        around every row it steps, and on a restore's busy main thread each handover cost ~40 µs."""
        sql = self._sql.get((select, count))
        if sql is None:
            marks = ",".join("?" * count)  # placeholders only: the ids are bound parameters
            sql = self._sql[(select, count)] = f"SELECT {select} FROM blobs WHERE id IN ({marks})"  # noqa: S608
        return sql

    def close(self) -> None:
        """Drop the file now (otherwise when the index is garbage-collected)."""
        if os.getpid() == self._owner:
            self._db.close()
        self._finalizer()

    # building ---------------------------------------------------------------------------------
    def _pack_no(self, pack_id: str) -> int:
        number = self._pack_nos.get(pack_id)
        if number is None:
            number = len(self._pack_ids)
            self._pack_ids.append(pack_id)
            self._pack_nos[pack_id] = number
            if pack_id in self.marked:
                self._marked_nos.add(number)
        return number

    def _insert(self, index_name: str, packs: Iterable[tuple[str, int, bytes | memoryview]]) -> None:
        """Add one index file's packs: all of them or, when the file turns out malformed halfway,
        none (the rows are rolled back and the in-memory side is only touched after the commit)."""
        listed: list[str] = []
        new: list[tuple[str, int]] = []  # (pack id, size) of the packs no earlier file listed
        fresh: set[str] = set()
        db = self._con()
        with self._lock:
            db.execute("BEGIN")
            try:
                for pack_id, size, records in packs:
                    listed.append(pack_id)
                    if pack_id in self.pack_sizes or pack_id in fresh:
                        continue  # the same pack listed by two index files (a prune consolidated them)
                    number = len(self._pack_ids) + len(new)
                    if number >= _MAX_PACKS:
                        raise IndexFormatError(f"more than {_MAX_PACKS} packs in one repository")
                    rows = _rows(number, records)
                    new.append((pack_id, size))
                    fresh.add(pack_id)
                    db.execute("INSERT INTO packs VALUES (?, ?)", (number, records))
                    db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?)", rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        self.index_files.setdefault(index_name, []).extend(listed)
        for pack_id in listed:
            self.pack_index_files.setdefault(pack_id, set()).add(index_name)
        for pack_id, size in new:
            self._pack_no(pack_id)  # numbered in the order the rows above assumed
            self.pack_sizes[pack_id] = size

    def add_encoded(self, index_name: str, data: bytes) -> None:
        """Add an index file from its plaintext (raises IndexFormatError)."""
        self._insert(index_name, iter_index(data))

    def add(self, index_name: str, packs: Iterable[IndexedPack]) -> None:
        """Add an index file from its packs (what a backup has just written)."""
        record = BLOB_RECORD.pack

        def encoded(pack: IndexedPack) -> bytes:
            fields = ((b.kind, b.flags, b.blob_id, b.offset, b.length, b.raw_length) for b in pack.blobs)
            return b"".join(record(*f) for f in fields)

        self._insert(index_name, ((pack.pack_id, pack.size, encoded(pack)) for pack in packs))

    # lookups ----------------------------------------------------------------------------------
    def _entry(self, loc: int, lens: int) -> IndexEntry:
        lens += _BIAS
        return _make_entry(
            (
                self._pack_ids[loc >> _PACK_SHIFT],
                _KINDS[(loc >> 32) & 1],
                _FLAGS[(loc >> 33) & 1],
                loc & _U32,
                lens & _U32,
                lens >> 32,
            )
        )

    def _copies(self, blob_id: bytes) -> list[tuple[int, int]]:
        """(loc, lens) of every copy, the preferred one first."""
        rows: list[tuple[int, int]] = self._query("SELECT loc, lens FROM blobs WHERE id = ?", (blob_id,))
        if len(rows) > 1 and self._marked_nos:
            rows.sort(key=lambda row: (row[0] >> _PACK_SHIFT) in self._marked_nos)  # stable
        return rows

    def _bulk(self, blob_ids: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        """The preferred (loc, lens) of each id found among `blob_ids`."""
        found: dict[bytes, tuple[int, int]] = {}
        marked = self._marked_nos
        for start in range(0, len(blob_ids), BATCH):
            part = blob_ids[start : start + BATCH]
            ((joined,),) = self._query(self._in_sql(len(part)), part)
            for row in joined.split(",") if joined else ():
                hexed, loc_text, lens_text = row.split(":")
                blob_id, loc, lens = bytes.fromhex(hexed), int(loc_text), int(lens_text)
                current = found.get(blob_id)
                if current is None or (
                    marked and (current[0] >> _PACK_SHIFT) in marked and (loc >> _PACK_SHIFT) not in marked
                ):
                    found[blob_id] = (loc, lens)
        return found

    def lookup(self, blob_id: bytes) -> IndexEntry | None:
        rows = self._copies(blob_id)
        return self._entry(*rows[0]) if rows else None

    def lookup_many(self, blob_ids: bytes) -> list[IndexEntry | None]:
        """`lookup` for each id of a concatenated id list (a file's content), in one query."""
        ids = split_ids(blob_ids)
        if len(ids) == 1:
            return [self.lookup(ids[0])]
        found = self._bulk(ids)
        out: list[IndexEntry | None] = []
        for blob_id in ids:
            row = found.get(blob_id)
            out.append(None if row is None else self._entry(*row))
        return out

    def lookup_map(self, blob_ids: Sequence[bytes]) -> dict[bytes, IndexEntry]:
        """`lookup` in bulk: the ids of `blob_ids` the index names, with their preferred copy."""
        return {blob_id: self._entry(*row) for blob_id, row in self._bulk(blob_ids).items()}

    def locations(self, blob_id: bytes) -> list[IndexEntry]:
        return [self._entry(loc, lens) for loc, lens in self._copies(blob_id)]

    def usable(self, blob_id: bytes) -> bool:
        """True when a backup may dedup against this blob (stored in a pack no prune has marked)."""
        rows = self._copies(blob_id)
        return bool(rows) and (rows[0][0] >> _PACK_SHIFT) not in self._marked_nos

    def usable_among(self, blob_ids: Sequence[bytes]) -> set[bytes]:
        """The ids of `blob_ids` a backup may dedup against, in bulk."""
        marked = self._marked_nos
        if not marked:  # the usual case: only which ids are there matters, not where
            return self._present(blob_ids)
        found = self._bulk(blob_ids)
        return {blob_id for blob_id, (loc, _lens) in found.items() if (loc >> _PACK_SHIFT) not in marked}

    def _present(self, blob_ids: Sequence[bytes]) -> set[bytes]:
        """The ids of `blob_ids` the index holds: one row per 500 ids, their hex run together
        (a database's pages are all asked about on every backup that finds it changed)."""
        present: set[bytes] = set()
        for start in range(0, len(blob_ids), BATCH):
            part = blob_ids[start : start + BATCH]
            ((joined,),) = self._query(self._in_sql(len(part), _IDS), part)
            if joined:
                raw = bytes.fromhex(joined)
                present.update(raw[i : i + ID_SIZE] for i in range(0, len(raw), ID_SIZE))
        return present

    def usable_pack_numbers(self, blob_ids: Sequence[bytes]) -> dict[bytes, int]:
        """For each id of `blob_ids` a backup may dedup against, the number of the pack holding
        it (`pack_ids` names them), in bulk."""
        marked = self._marked_nos
        out: dict[bytes, int] = {}
        for blob_id, (loc, _lens) in self._bulk(blob_ids).items():
            number = loc >> _PACK_SHIFT
            if number not in marked:
                out[blob_id] = number
        return out

    def usable_packs(self, blob_ids: bytes) -> set[int] | None:
        """The numbers of the packs holding the ids of a concatenated id list (`pack_ids` names
        them), or None when one is missing or sits only in a marked pack. Every unchanged file
        of a backup comes through here, a database's 100,000 pages a slice at a time."""
        if len(blob_ids) == ID_SIZE:  # most files are one chunk
            rows = self._copies(blob_ids)
            if not rows or (rows[0][0] >> _PACK_SHIFT) in self._marked_nos:
                return None
            return {rows[0][0] >> _PACK_SHIFT}
        numbers: set[int] = set()
        for start in range(0, len(blob_ids), BATCH * ID_SIZE):
            ids = split_ids(blob_ids[start : start + BATCH * ID_SIZE])
            if not self._marked_nos:  # the usual case: SQLite counts and collects on its own
                found_count, packs = self._count_and_packs(ids)
                if found_count < len(set(ids)):
                    return None
                numbers |= packs
                continue
            found = self._bulk(ids)
            if len(found) < len(set(ids)):
                return None
            numbers.update(loc >> _PACK_SHIFT for loc, _lens in found.values())
        if self._marked_nos and not numbers.isdisjoint(self._marked_nos):
            return None
        return numbers

    def _count_and_packs(self, blob_ids: Sequence[bytes]) -> tuple[int, set[int]]:
        """How many of `blob_ids` the index holds, and the numbers of every pack holding a copy,
        in one query that returns one short row: a database's 100,000 unchanged pages cost no
        Python per page (parsing every location back cost twice the lookup itself)."""
        ((found, joined),) = self._query(self._in_sql(len(blob_ids), _COUNT_AND_PACKS), blob_ids)
        return found, {int(n) for n in joined.split(",")} if joined else set()

    def pack_ids(self, numbers: Iterable[int]) -> set[str]:
        """The pack ids of pack numbers from `usable_packs`."""
        return {self._pack_ids[n] for n in numbers}

    def packs_of(self, blob_ids: bytes) -> set[str]:
        """The packs holding the (preferred copies of the) ids of a concatenated id list."""
        numbers: set[int] = set()
        for start in range(0, len(blob_ids), BATCH * ID_SIZE):
            found = self._bulk(split_ids(blob_ids[start : start + BATCH * ID_SIZE]))
            numbers.update(loc >> _PACK_SHIFT for loc, _lens in found.values())
        return self.pack_ids(numbers)

    def missing(self, blob_ids: bytes) -> list[bytes]:
        """The ids of a concatenated id list that no index names, in order."""
        ids = split_ids(blob_ids)
        found = self._bulk(ids)
        return [blob_id for blob_id in ids if blob_id not in found]

    def __contains__(self, blob_id: object) -> bool:
        if not isinstance(blob_id, bytes):
            return False
        return bool(self._query("SELECT 1 FROM blobs WHERE id = ? LIMIT 1", (blob_id,)))

    def __len__(self) -> int:
        """The number of distinct blobs."""
        ((count,),) = self._query("SELECT COUNT(*) FROM (SELECT DISTINCT id FROM blobs)", ())
        return int(count)

    # whole packs ------------------------------------------------------------------------------
    def records_of(self, pack_id: str) -> bytes:
        """The blob records of one pack, as its index file lists them (`record_entries` decodes
        them); empty for a pack no index names."""
        number = self._pack_nos.get(pack_id)
        if number is None:
            return b""
        rows = self._query("SELECT records FROM packs WHERE no = ?", (number,))
        return bytes(rows[0][0]) if rows else b""

    def pack_blobs(self) -> dict[str, list[tuple[bytes, IndexEntry]]]:
        """Every pack with all blobs it holds (other copies included). Holds them all: for
        prune, which needs the whole picture."""
        return {pack_id: record_entries(pack_id, self.records_of(pack_id)) for pack_id in self.pack_sizes}

    def iter_packs(self) -> Iterator[tuple[str, int]]:
        yield from self.pack_sizes.items()
