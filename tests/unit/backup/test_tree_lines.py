"""Tree lines read without a JSON parse: what a backup compares its files with."""

from __future__ import annotations

import binascii
import json
import os

import pytest

from clawkeeper.backup.tree import (
    Entry,
    EntryType,
    TreeFormatError,
    file_line_head,
    keyed_lines,
    parse_file_entries,
    parse_lines,
    parse_tree_line,
    path_key,
    quick_file_entry,
)

PATHS = [
    "home/me/.openclaw/openclaw.json",
    'odd "quoted" name',
    "back\\slash",
    "ünïcödé/文件.md",
    "tab\there",
    'x","t":"d',  # looks like the next key from inside the path
]


@pytest.mark.parametrize("path", PATHS)
def test_a_plain_file_line_is_its_head_content_and_signature(path: str) -> None:
    chunks = os.urandom(96)
    entry = Entry(path, EntryType.FILE, 0o640, 123, 1000, 1001, 77, chunks, sig="77:123:456:789")
    head = file_line_head(path_key(path), 0o640, 123, 1000, 1001, 77)
    tail = b'","sig":"77:123:456:789"}\n'
    assert entry.to_line() == head + binascii.hexlify(chunks) + tail


def stream_of(entries: list[Entry]) -> bytes:
    return b"".join(e.to_line() for e in entries)


def sample_entries() -> list[Entry]:
    out: list[Entry] = []
    for path in PATHS:
        out.append(Entry(path, EntryType.DIR, 0o700, 5))
        out.append(Entry(path + "/f", EntryType.FILE, 0o600, 6, size=3, chunks=os.urandom(32), sig="3:6:6:9"))
        out.append(Entry(path + "/l", EntryType.SYMLINK, 0o777, 7, link_target="../f"))
    out.append(
        Entry(
            "state/memory.sqlite",
            EntryType.FILE,
            0o600,
            8,
            size=4096 * 3000,
            chunks=os.urandom(32 * 3000),  # a long line: ~190 kB of hex
            sig="sqlite|1:2:3:4|-",
            sqlite={"page_size": 4096, "quick_check": "ok"},
        )
    )
    return out


@pytest.mark.parametrize("piece", [1, 7, 4096, 10**7])
def test_keyed_lines_key_every_entry_by_its_path_however_the_stream_is_cut(piece: int) -> None:
    entries = sample_entries()
    stream = stream_of(entries)
    pieces = [stream[i : i + piece] for i in range(0, len(stream), piece)]
    lines = dict(keyed_lines(pieces))
    assert lines == {path_key(e.path): e.to_line() for e in entries}
    for entry in entries:
        assert parse_tree_line(lines[path_key(entry.path)]) == entry
    assert list(parse_lines(pieces)) == entries
    assert list(parse_file_entries(pieces)) == [e for e in entries if e.type is EntryType.FILE]


def test_a_line_in_another_key_order_is_keyed_by_its_parsed_path() -> None:
    entry = Entry("a/b", EntryType.FILE, 0o644, 1, size=2, chunks=os.urandom(32), sig="2:1:1:1")
    reordered = json.dumps({"t": "f", "p": "a/b", "m": 0o644, "mt": 1, "s": 2, "c": entry.chunks.hex()})
    lines = dict(keyed_lines([reordered.encode() + b"\n"]))
    assert list(lines) == [path_key("a/b")]
    parsed = parse_tree_line(lines[path_key("a/b")])
    assert (parsed.path, parsed.chunks, parsed.size) == ("a/b", entry.chunks, 2)


def test_a_stream_cut_inside_an_entry_is_an_error() -> None:
    stream = stream_of(sample_entries()[:3])
    with pytest.raises(TreeFormatError):
        dict(keyed_lines([stream[:-5]]))
    with pytest.raises(TreeFormatError):
        list(parse_lines([stream, b'{"p":"x"']))


def test_a_damaged_content_list_is_left_to_the_full_parser_which_says_so() -> None:
    chunks = os.urandom(32)
    line = Entry("f", EntryType.FILE, 0o600, 1, size=1, chunks=chunks, sig="1:1:1:1").to_line()
    partial = line.replace(b'","sig"', b'0","sig"', 1)  # 65 hex digits: a partial id
    not_hex = line.replace(chunks.hex().encode(), chunks.hex()[:-2].encode() + b"zz", 1)
    for damaged in (partial, not_hex):
        assert quick_file_entry(damaged) is None
        with pytest.raises(TreeFormatError):
            parse_tree_line(damaged)
