"""The restore's spooled entry list gives back exactly the entries it was given."""

from __future__ import annotations

import pytest

from clawkeeper.backup import restore_files, restore_lanes, spoolfile
from clawkeeper.backup.restore_list import EntryList
from clawkeeper.backup.tree import Entry, EntryType


def _entries(count: int) -> list[Entry]:
    out = [Entry(path="root", type=EntryType.DIR, mode=0o700, mtime_ns=5)]
    for i in range(count):
        out.append(
            Entry(
                path=f"root/s{i:05d}.jsonl",
                type=EntryType.FILE,
                mode=0o600,
                mtime_ns=i,
                size=1000 + i,
                chunks=i.to_bytes(32, "big") * (1 + i % 3),
                sig=f"{1000 + i}:{i}:{i}:{i}",
            )
        )
    out.append(
        Entry(path="root/link", type=EntryType.SYMLINK, mode=0o777, mtime_ns=1, link_target="s00001.jsonl")
    )
    db = Entry(path="root/db.sqlite", type=EntryType.FILE, mode=0o600, mtime_ns=3, size=4096 * 3000)
    db.chunks = b"".join(n.to_bytes(32, "big") for n in range(3000))  # a line of ~190 KB
    db.sqlite = {"page_size": 4096, "user_version": 7}
    out.append(db)
    return out


def _same(a: Entry, b: Entry) -> bool:
    return a.to_line() == b.to_line()


def test_entries_come_back_whole_past_many_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spoolfile, "FLUSH_BYTES", 4096)
    given = _entries(2000)
    spooled = EntryList.of(given)
    assert len(spooled) == len(given)
    assert all(_same(a, b) for a, b in zip(spooled, given, strict=True))
    assert _same(spooled[-1], given[-1]) and spooled[-1].sqlite == {"page_size": 4096, "user_version": 7}
    assert spooled[0].line is None  # parsed entries do not keep their line
    assert spooled.sizes() == [e.size if e.type is EntryType.FILE else 0 for e in given]


def test_views_select_and_slice_without_copying_entries() -> None:
    given = _entries(50)
    spooled = EntryList.of(given)
    view = spooled.select([3, 1, 7, 9])
    assert [e.path for e in view] == [given[i].path for i in (3, 1, 7, 9)]
    assert [e.path for e in view[1:3]] == [given[1].path, given[7].path]
    assert view.sizes() == [given[i].size for i in (3, 1, 7, 9)]
    assert [e.path for e in spooled[10:12]] == [given[10].path, given[11].path]
    assert [e.path for e in view.select([0, 3])] == [given[3].path, given[9].path]


def test_lanes_split_an_entry_list_like_a_list() -> None:
    files = [e for e in _entries(300) if e.type is EntryType.FILE]
    spooled = EntryList.of(files)
    for cut_list, cut_spooled in zip(
        restore_lanes.split_balanced(files, restore_lanes.restore_cost),
        restore_lanes.split_balanced(spooled, restore_lanes.restore_cost),
        strict=True,
    ):
        assert isinstance(cut_spooled, EntryList)
        assert [e.path for e in cut_spooled] == [e.path for e in cut_list]
    halves = restore_files.split_in_two(spooled)
    assert [[e.path for e in half] for half in halves] == [
        [e.path for e in half] for half in restore_files.split_in_two(files)
    ]
