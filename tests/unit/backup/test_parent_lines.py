"""The parent snapshot's lines, kept on disk for the scan."""

from __future__ import annotations

from clawkeeper.backup.parent_lines import ParentLines
from clawkeeper.backup.tree import Entry, EntryType, keyed_lines, path_key


def _lines(count: int) -> list[tuple[bytes, bytes]]:
    entries = [
        Entry(path=f"home/a/s{i:05d}.jsonl", type=EntryType.FILE, mode=0o600, mtime_ns=i, size=i)
        for i in range(count)
    ]
    return list(keyed_lines([b"".join(e.to_line() for e in entries)]))


def test_every_line_is_found_by_its_path_with_or_without_a_prefetch() -> None:
    pairs = _lines(5000)
    lines = ParentLines(pairs)
    assert lines and len(lines) == 5000
    assert all(lines.get(key) == line for key, line in pairs[::97])  # single queries
    window = [key for key, _line in pairs[1000:1256]]
    lines.prefetch([*window[:-1], path_key("home/a/missing")])
    assert [lines.get(key) for key in window[:3]] == [line for _key, line in pairs[1000:1003]]
    assert lines.get(path_key("home/a/missing")) is None
    assert lines.get(pairs[-1][0]) == pairs[-1][1]  # outside the window: still found


def test_without_a_parent_nothing_is_found_and_no_file_is_made() -> None:
    lines = ParentLines()
    lines.prefetch([path_key("x")])
    assert not lines and lines.get(path_key("x")) is None and lines._db is None
