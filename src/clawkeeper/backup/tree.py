"""What a snapshot records about each file, and how the file list is stored.

A snapshot's tree is a stream of JSON lines, one entry per file, directory or symlink, sorted by
path. The stream is cut into content-defined chunks stored as TREE blobs, so consecutive snapshots
of a mostly unchanged agent share almost all tree blobs. Paths are relative POSIX paths of the
absolute source path (`home/me/.openclaw/openclaw.json`), never absolute and never containing
`..`; restore checks that again, because a repository is input, not trusted code.

Entry fields (short keys keep big trees small):
    p  path                 t  "f" file, "d" directory, "l" symlink
    m  permission bits      mt mtime in ns         u, g  uid, gid
    s  size in bytes        c  content: concatenated hex blob ids
    ci, n  content kept aside: the hex ids of list blobs (TREE blobs whose plaintext is the
           concatenated raw chunk ids, at most 1 MiB each) and how many chunk ids they hold in
           all; then "c" is empty. Databases with more than `INLINE_MAX` pages use it, so a
           400 MB database's 100,000 ids are neither one 6.4 MB line nor held whole by anyone
    l  symlink target       sig  source fingerprint (the files cache compares it)
    db SQLite details (page_size, user_version, ...) when captured through the backup API
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Any

from clawkeeper.backup.crypto import ID_SIZE

HEX_ID = ID_SIZE * 2
HEX_PIECE = 1024 * ID_SIZE  # chunk ids hex-encoded at a time into a tree line
INLINE_MAX = 4096  # a database with more chunk ids than this keeps them in list blobs
LIST_BYTES = 32768 * ID_SIZE  # chunk ids per list blob (1 MiB)


def split_ids(raw: bytes) -> list[bytes]:
    """The ids of a concatenated id list."""
    return [raw[i : i + ID_SIZE] for i in range(0, len(raw), ID_SIZE)]


class EntryType(StrEnum):
    FILE = "f"
    DIR = "d"
    SYMLINK = "l"


class TreeFormatError(Exception):
    """A tree line does not parse."""


@dataclass
class Entry:
    path: str
    type: EntryType
    mode: int
    mtime_ns: int
    uid: int = 0
    gid: int = 0
    size: int = 0
    chunks: bytes = b""  # the chunk ids, 32 bytes each, concatenated in file order
    link_target: str | None = None
    sig: str | None = None
    sqlite: dict[str, Any] | None = None
    line: bytes | None = field(default=None, compare=False, repr=False)  # as read from a tree
    chunk_lists: bytes = b""  # ids of the list blobs holding the chunk ids (then `chunks` is empty)
    listed: int = 0  # how many chunk ids those list blobs hold

    def serialized(self) -> bytes:
        """The tree line: as it was read when nothing could have changed it, else `to_line()`."""
        return self.line if self.line is not None else self.to_line()

    def serialize_into(self, out: bytearray) -> None:
        """Append the tree line to `out` (`serialized()`, without building it first)."""
        if self.line is not None:
            out += self.line
        else:
            self._write_line(out)

    def to_line(self) -> bytes:
        out = bytearray()
        self._write_line(out)
        return bytes(out)

    def _write_line(self, out: bytearray) -> None:
        """One JSON object, keys in the fixed order `quick_file_entry` relies on. The content list
        is written straight into `out` in pieces: a 400 MB database has 100,000 chunk ids, and
        building its line as one JSON string held four copies of 6.4 MB of hex at once."""
        head: dict[str, Any] = {
            "p": self.path,
            "t": self.type.value,
            "m": self.mode,
            "mt": self.mtime_ns,
            "u": self.uid,
            "g": self.gid,
        }
        if self.type is EntryType.FILE:
            head["s"] = self.size
        out += json.dumps(head, separators=(",", ":"))[:-1].encode()
        if self.type is EntryType.FILE:
            out += b',"c":"'
            chunks = self.chunks
            for start in range(0, len(chunks), HEX_PIECE):
                out += binascii.hexlify(chunks[start : start + HEX_PIECE])
            out += b'"'
        tail: dict[str, Any] = {}
        if self.chunk_lists:
            tail["ci"] = self.chunk_lists.hex()
            tail["n"] = self.listed
        if self.link_target is not None:
            tail["l"] = self.link_target
        if self.sig is not None:
            tail["sig"] = self.sig
        if self.sqlite is not None:
            tail["db"] = self.sqlite
        if tail:
            out += b"," + json.dumps(tail, separators=(",", ":"))[1:-1].encode()
        out += b"}\n"

    @classmethod
    def from_json(cls, doc: Any) -> Entry:
        try:
            content_hex = doc.get("c", "")
            lists_hex = doc.get("ci", "")
            if len(content_hex) % HEX_ID or len(lists_hex) % HEX_ID:
                raise TreeFormatError(f"content list of {doc['p']!r} has a partial id")
            return cls(
                path=str(doc["p"]),
                type=EntryType(doc["t"]),
                mode=int(doc["m"]),
                mtime_ns=int(doc["mt"]),
                uid=int(doc.get("u", 0)),
                gid=int(doc.get("g", 0)),
                size=int(doc.get("s", 0)),
                chunks=bytes.fromhex(content_hex),
                link_target=doc.get("l"),
                sig=doc.get("sig"),
                sqlite=doc.get("db"),
                chunk_lists=bytes.fromhex(lists_hex),
                listed=int(doc.get("n", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TreeFormatError(f"malformed tree entry: {exc}") from exc

    @property
    def chunk_count(self) -> int:
        return self.listed if self.chunk_lists else len(self.chunks) // ID_SIZE

    @property
    def content(self) -> list[bytes]:
        """The chunk ids of the tree line as a list (empty when they are in list blobs: see
        `snapshots.content_slices`)."""
        return split_ids(self.chunks)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite is not None


# The fixed key order `to_line` writes lets a backup read its parent's file entries without a
# JSON parse per line (the parent is read in full by every backup, so this is its hot path). Only
# the head is matched by the regex: the content list (64 hex digits per chunk, most of a line) is
# found with `bytes.find` and decoded by `unhexlify`, both in C.
_FILE_HEAD = re.compile(
    rb'\{"p":("[^"\\]*(?:\\.[^"\\]*)*"),"t":"f","m":(\d+),"mt":(\d+),"u":(\d+),"g":(\d+),"s":(\d+),"c":"'
)
_SIG = re.compile(rb',"sig":"([^"\\]*)"')


def quick_file_entry(line: bytes) -> Entry | None:
    """A file entry from its tree line (newline included), or None for anything else."""
    match = _FILE_HEAD.match(line)
    if match is None:
        return None  # not a file: parsed in full
    start = match.end()
    end = line.find(b'"', start)
    if end < 0 or (end - start) % HEX_ID:
        return None  # damaged: the full parser says how
    try:
        chunks = binascii.unhexlify(line[start:end])
    except binascii.Error:
        return None
    raw_path, mode, mtime, uid, gid, size = match.groups()
    path = json.loads(raw_path) if b"\\" in raw_path else raw_path[1:-1].decode()
    link: Any = None
    sqlite: Any = None
    lists, listed = b"", 0
    if line.find(b',"db":', end) < 0 and line.find(b',"ci":', end) < 0:
        found = _SIG.search(line, end)
        sig: Any = found.group(1).decode() if found else None
    else:  # a database: its details are JSON (small, next to a long content list)
        try:
            tail = json.loads(b"{" + line[end + 2 :])
        except ValueError:
            return None
        if not isinstance(tail, dict):
            return None
        link, sig, sqlite = tail.get("l"), tail.get("sig"), tail.get("db")
        if "ci" in tail:
            try:
                lists, listed = bytes.fromhex(tail["ci"]), int(tail.get("n", 0))
            except (TypeError, ValueError):
                return None  # damaged: the full parser says how
            if len(lists) % ID_SIZE:
                return None
    # positional: a dataclass's keyword handling is measurable at 15,000 entries
    return Entry(
        path,
        EntryType.FILE,
        int(mode),
        int(mtime),
        int(uid),
        int(gid),
        int(size),
        chunks,
        link,
        sig,
        sqlite,
        line,
        lists,
        listed,
    )


def _tree_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The non-empty lines of a tree stream (without their newline), given as consecutive pieces
    of bytes cut anywhere. A line spanning many pieces (a big database's content list) is joined
    once, not grown piece by piece."""
    held: list[bytes] = []  # the pieces of the line not finished yet
    for piece in chunks:
        last = piece.rfind(b"\n")
        if last < 0:
            held.append(piece)
            continue
        if held:
            held.append(piece[: last + 1])
            block = b"".join(held)
        else:
            block = piece[: last + 1] if last + 1 < len(piece) else piece
        held = [piece[last + 1 :]] if last + 1 < len(piece) else []
        lines = block.split(b"\n")
        lines.pop()  # the empty remainder after the block's last newline
        for line in lines:
            if line:
                yield line
    if any(part.strip() for part in held):
        raise TreeFormatError("tree stream ends inside an entry")


def path_key(path: str) -> bytes:
    """`path` as every tree line spells it (a JSON string, quotes included): the key of
    `keyed_lines`. `_write_line` encodes paths the same way (json.dumps, ASCII only)."""
    return encode_basestring_ascii(path).encode()


def file_line_head(key: bytes, mode: int, mtime_ns: int, uid: int, gid: int, size: int) -> bytes:
    """The start of a plain file's tree line, up to its content list (`to_line`'s bytes)."""
    return b'{"p":%s,"t":"f","m":%d,"mt":%d,"u":%d,"g":%d,"s":%d,"c":"' % (
        key,
        mode,
        mtime_ns,
        uid,
        gid,
        size,
    )


def keyed_lines(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Every entry's (`path_key`, tree line with its newline), unparsed: a backup compares the
    line it would write for an unchanged file with its parent's, byte for byte, and parses a
    line only when they differ (`parse_tree_line`)."""
    for line in _tree_lines(chunks):
        end = line.find(b'","t":', 6) if line.startswith(b'{"p":"') else -1
        if end < 0:  # not in `to_line`'s key order: key it by its parsed path
            yield path_key(_parse(line).path), line + b"\n"
        else:
            yield line[5 : end + 1], line + b"\n"


def parse_tree_line(line: bytes) -> Entry:
    """The entry of one tree line (newline included). Raises TreeFormatError."""
    return quick_file_entry(line) or _parse(line[:-1])


def parse_file_entries(chunks: Iterable[bytes]) -> Iterator[Entry]:
    """The file entries of a tree stream, quickly (see `quick_file_entry`)."""
    for line in _tree_lines(chunks):
        entry = quick_file_entry(line + b"\n")
        if entry is None:
            entry = _parse(line)
            if entry.type is not EntryType.FILE:
                continue
        yield entry


def parse_lines(chunks: Iterable[bytes]) -> Iterator[Entry]:
    """Entries from the tree stream, given as consecutive pieces of bytes."""
    for line in _tree_lines(chunks):
        yield _parse(line)


def _parse(line: bytes) -> Entry:
    try:
        doc = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TreeFormatError(f"tree line is not JSON: {exc}") from exc
    entry = Entry.from_json(doc)
    entry.line = line + b"\n"
    return entry
