"""The on-disk master index: bulk lookups agree with single ones, forked workers read it, and
its file goes away with it."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from clawkeeper.backup import forked, scratch
from clawkeeper.backup.index import IndexedPack, IndexEntry, IndexFormatError, encode_index
from clawkeeper.backup.index_store import BATCH, MasterIndex
from clawkeeper.backup.packs import BlobFlags, BlobKind, PackedBlob


def _blob(n: int, offset: int = 0) -> PackedBlob:
    return PackedBlob(n.to_bytes(32, "big"), BlobKind.DATA, BlobFlags.COMPRESSED, offset, 100 + n, 300 + n)


def _index(marked: frozenset[str] = frozenset()) -> MasterIndex:
    # blobs 0..2*BATCH in pack a, the odd ones of them again in pack b; pack m holds 5000
    index = MasterIndex(marked=marked)
    first = tuple(_blob(n, n * 10) for n in range(2 * BATCH))
    again = tuple(_blob(n, n) for n in range(1, 2 * BATCH, 2))
    index.add_encoded("i1", encode_index([IndexedPack("a" * 64, 10**6, first)]))
    index.add("i2", [IndexedPack("b" * 64, 10**5, again), IndexedPack("m" * 64, 10, (_blob(5000),))])
    return index


def test_bulk_lookups_agree_with_single_lookups_across_batches() -> None:
    index = _index()
    ids = [n.to_bytes(32, "big") for n in (*range(0, 2 * BATCH, 7), 4000, 5000)]
    joined = b"".join(ids)
    assert index.lookup_many(joined) == [index.lookup(blob_id) for blob_id in ids]
    assert index.usable_among(ids) == {blob_id for blob_id in ids if index.usable(blob_id)}
    assert index.missing(joined) == [(4000).to_bytes(32, "big")]
    assert index.lookup((3).to_bytes(32, "big")) == IndexEntry(
        "a" * 64, BlobKind.DATA, BlobFlags.COMPRESSED, 30, 103, 303
    )
    assert [e.pack_id for e in index.locations((3).to_bytes(32, "big"))] == ["a" * 64, "b" * 64]
    assert len(index) == 2 * BATCH + 1


def test_the_packs_an_id_list_depends_on_are_every_pack_holding_a_copy_or_none_if_one_is_missing() -> None:
    index = _index()  # no marks: SQLite counts the ids and collects the packs itself
    ids = [n.to_bytes(32, "big") for n in range(2 * BATCH)]
    numbers = index.usable_packs(b"".join(ids + ids[:3]))  # more than a batch, repeats included
    assert numbers is not None and index.pack_ids(numbers) == {"a" * 64, "b" * 64}
    assert index.pack_ids(index.usable_packs(b"".join(ids[::2])) or set()) == {"a" * 64}
    assert index.usable_packs(b"".join([*ids, (4000).to_bytes(32, "big")])) is None


def test_a_marked_pack_is_skipped_by_bulk_lookups_too() -> None:
    index = _index(marked=frozenset({"a" * 64, "m" * 64}))
    ids = [n.to_bytes(32, "big") for n in range(2 * BATCH)] + [(5000).to_bytes(32, "big")]
    usable = index.usable_among(ids)
    assert usable == {n.to_bytes(32, "big") for n in range(1, 2 * BATCH, 2)}  # only b's copies
    located = index.lookup_many(b"".join(ids))
    assert {e.pack_id for e in located if e is not None and e.offset % 10 != 0} == {"b" * 64}
    assert index.lookup((5000).to_bytes(32, "big")).pack_id == "m" * 64  # type: ignore[union-attr]
    assert index.usable_packs(b"".join(ids[1::2][:50])) == {1}
    assert index.usable_packs(b"".join(ids[:2])) is None


def _child_lookup(blob_id: bytes) -> tuple[int, IndexEntry | None, bytes]:
    index = forked.state()
    return os.getpid(), index.lookup(blob_id), index.records_of("m" * 64)


def test_a_forked_worker_reads_the_index_through_its_own_connection() -> None:
    index = _index()
    blob_id = (7).to_bytes(32, "big")
    with forked.pool(2, index) as pool:
        pid, entry, records = pool.submit(_child_lookup, blob_id).result()
    assert pid != os.getpid()
    assert entry == index.lookup(blob_id) and records == index.records_of("m" * 64) != b""
    assert index.lookup(blob_id) is not None  # the parent's connection still works


def test_the_index_file_is_removed_with_the_index() -> None:
    index = _index()
    folder = Path(index._path).parent
    assert folder.is_dir() and oct(folder.stat().st_mode & 0o777) == "0o700"
    index.close()
    assert not folder.exists()
    other = _index()
    folder = Path(other._path).parent
    del other
    gc.collect()
    assert not folder.exists()


def test_a_malformed_index_file_adds_nothing_of_itself() -> None:
    index = _index()
    good = IndexedPack("c" * 64, 10, (_blob(9000),))
    bad = IndexedPack("d" * 64, 10, (PackedBlob((9001).to_bytes(32, "big"), 7, BlobFlags.NONE, 0, 1, 1),))  # type: ignore[arg-type]
    with pytest.raises(IndexFormatError):
        index.add_encoded("broken", encode_index([good, bad]))
    assert index.lookup((9000).to_bytes(32, "big")) is None
    assert "c" * 64 not in index.pack_sizes and "broken" not in index.index_files
    index.add("later", [good])  # the pack numbers stay consistent with the rows
    assert index.lookup((9000).to_bytes(32, "big")).pack_id == "c" * 64  # type: ignore[union-attr]


def test_a_folder_left_by_a_killed_command_is_swept_like_a_backup_scratch_folder(tmp_path: Path) -> None:
    index = _index()
    folder = Path(index._path).parent
    assert scratch._pid_of(folder.name) == os.getpid()  # named as a scratch folder of this process
    left = tmp_path / folder.name.replace(f"-{os.getpid()}-", "-999999999-")  # as if its command died
    left.mkdir()
    (left / "data.sqlite").write_bytes(b"")
    os.utime(left, (0, 0))
    assert scratch.remove_stale(tmp_path) == 1 and not left.exists()
