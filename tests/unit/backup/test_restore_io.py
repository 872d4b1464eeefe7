"""The fast paths: page hashing, batched blob reads, parallel file writes, in-place swaps, the
compact index and tree lines written in pieces."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from clawkeeper.backup import create as create_module
from clawkeeper.backup import restore_files, restore_lanes, scratch
from clawkeeper.backup.blobstream import MAX_GAP, MAX_SPAN, Wanted, spans
from clawkeeper.backup.compress import StreamCompressor
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.crypto import AesGcmCipher, BlobHasher
from clawkeeper.backup.index import IndexedPack, IndexEntry, encode_index
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.packs import BlobFlags, BlobKind, PackBuilder, PackedBlob, pack_object_name, parse_pack
from clawkeeper.backup.progress import Progress
from clawkeeper.backup.repository import BlobCorrupt, Credentials, Repository, init_repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.tree import Entry, EntryType, quick_file_entry
from clawkeeper.backup.writer import BlobWriter

from .conftest import PASSPHRASE, make_database


def test_page_ids_equal_one_keyed_hash_per_page() -> None:
    key = os.urandom(32)
    data = os.urandom(4096 * 5 + 100)
    ids = BlobHasher(key).many(data, 4096)
    assert len(ids) == 6
    for i, blob_id in enumerate(ids):
        assert blob_id == blake3.blake3(data[i * 4096 : (i + 1) * 4096], key=key).digest()
        assert blob_id == BlobHasher(key)(data[i * 4096 : (i + 1) * 4096])


def test_fixed_chunks_store_each_distinct_page_once(repo: Repository) -> None:
    page_a, page_b = os.urandom(4096), bytes(4096)
    image = bytearray(page_a + page_b + page_b + page_a + b"tail")
    writer = BlobWriter(repo, repo.load_index())
    ids = writer.add_fixed(BlobKind.DATA, memoryview(image), 4096, StreamCompressor(1))
    image[:] = bytes(len(image))  # the caller reuses its buffer: what was stored must not change
    writer.finish()
    assert ids[0] == ids[3] and ids[1] == ids[2] and len(set(ids)) == 3
    assert writer.stats.blobs_added == 3 and writer.stats.blobs_reused == 2
    fresh = repo.load_index()
    assert repo.read_blob(ids[0]) == page_a
    assert repo.read_blob(ids[1]) == page_b
    assert repo.read_blob(ids[4]) == b"tail"
    assert all(fresh.lookup(i) is not None for i in ids)


def _at(pack: str, offset: int, length: int) -> Wanted:
    entry = IndexEntry(pack, BlobKind.DATA, BlobFlags.NONE, offset, length, length)
    return Wanted(os.urandom(32), "f", entry)


def test_neighbouring_blobs_are_read_in_one_request() -> None:
    wanted = [
        _at("p1", 0, 100),
        _at("p2", 50, 10),
        _at("p1", 100, 100),  # adjacent
        _at("p1", 200 + MAX_GAP, 10),  # a gap small enough to read through
        _at("p1", 10 * MAX_GAP, 10),  # too far: its own request
        _at("p1", 0, 100),  # the same blob twice (a repeated page)
        Wanted(os.urandom(32), "missing", None),
    ]
    assert spans(wanted) == [
        ("p1", 0, 210 + MAX_GAP),
        ("p1", 10 * MAX_GAP, 10 * MAX_GAP + 10),
        ("p2", 50, 60),
    ]
    huge = [_at("p", i * (MAX_SPAN // 2), MAX_SPAN // 2) for i in range(3)]
    assert all(end - start <= MAX_SPAN for _p, start, end in spans(huge))


@pytest.fixture(params=["one process", "two processes"])
def small_batches(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    """Batches of a few chunks and files, so every boundary case happens in a small test; once
    written by this process alone, once split with a forked one (as local restores of 32 MiB
    and more are)."""
    forking = request.param == "two processes"
    monkeypatch.setattr(restore_lanes, "FORK_MIN_BYTES", 0 if forking else 1 << 62)
    forks: list[int] = []
    real = restore_lanes.write_in_two_processes

    def counted(*args: Any, **kwargs: Any) -> Any:
        forks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_lanes, "write_in_two_processes", counted)
    monkeypatch.setattr(restore_files, "BATCH_BLOBS", 5)
    monkeypatch.setattr(restore_files, "BATCH_BYTES", 64 * 1024)
    monkeypatch.setattr(restore_files, "BATCH_FILES", 3)
    monkeypatch.setattr(restore_files, "AHEAD_BATCHES", 2)
    yield
    assert bool(forks) == forking  # the restores did take the path this variant is about


def _mixed_tree(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # several content-defined chunks
    (root / "empty").write_bytes(b"")
    for i in range(12):
        (root / f"note-{i:02d}.md").write_text(f"note {i}\n" * (i * 50))
    make_database(root / "memory.sqlite", rows=3000)  # ~600 pages, one chunk each


def test_files_spanning_many_batches_and_packs_restore_byte_for_byte(
    tmp_path: Path, small_batches: None
) -> None:
    repo = init_repository(
        LocalTarget(tmp_path / "repo"), Credentials(passphrase=PASSPHRASE), pack_size=256 * 1024
    )
    source = tmp_path / "src"
    _mixed_tree(source)
    first = create_snapshot(repo, plain_sources([source])).snapshot
    conn = sqlite3.connect(source / "memory.sqlite")  # pages now interleave old and new packs
    conn.execute("UPDATE memory SET text = 'edited' WHERE id % 7 = 0")
    conn.commit()
    conn.close()
    second = create_snapshot(repo, plain_sources([source])).snapshot
    assert second.stats["packs_written"] > 1 and first.id != second.id

    report = restore_snapshot(repo, second.id, RestoreOptions(target=tmp_path / "out"))
    back = tmp_path / "out" / str(source).lstrip("/")
    for path in source.iterdir():
        if path.name.startswith("memory.sqlite"):
            continue
        assert (back / path.name).read_bytes() == path.read_bytes(), path.name
    assert report.databases == {f"{str(source).lstrip('/')}/memory.sqlite": "ok"}
    conn = sqlite3.connect(back / "memory.sqlite")
    assert conn.execute("SELECT count(*) FROM memory WHERE text = 'edited'").fetchone()[0] == 3000 // 7
    conn.close()
    assert report.files == 15 and report.bytes == sum(p.stat().st_size for p in back.iterdir() if p.is_file())
    assert not [p for p in back.iterdir() if p.name.startswith(".clawkeeper-restore-")]


def _damage_last_chunk_of(repo: Repository, snapshot_id: str, name: str) -> None:
    entry = next(e for e in iter_tree(repo, load_snapshot(repo, snapshot_id)) if e.path.endswith(name))
    located = repo.index.lookup(entry.content[-1])
    assert located is not None
    pack = Path(repo.target.root) / pack_object_name(located.pack_id)  # type: ignore[attr-defined]
    data = bytearray(pack.read_bytes())
    data[located.offset + located.length // 2] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_a_damaged_chunk_fails_the_restore_and_leaves_no_half_written_file(
    repo: Repository, tmp_path: Path, small_batches: None
) -> None:
    source = tmp_path / "src"
    _mixed_tree(source)
    snap = create_snapshot(repo, plain_sources([source])).snapshot.id
    _damage_last_chunk_of(repo, snap, "note-07.md")
    out = tmp_path / "out"
    with pytest.raises(BlobCorrupt, match=r"note-07\.md"):
        restore_snapshot(repo, snap, RestoreOptions(target=out))
    back = out / str(source).lstrip("/")
    assert not (back / "note-07.md").exists()
    for path in back.iterdir():  # whatever was finished before the failure is complete
        assert path.read_bytes() == (source / path.name).read_bytes() or path.name == "memory.sqlite"


def test_without_encryption_a_changed_chunk_is_caught_by_its_id(tmp_path: Path, small_batches: None) -> None:
    # restores trust AES-GCM's authentication instead of rehashing; with no cipher there is no
    # such proof, and the chunk's id is recomputed (big.bin is random: stored raw, no zstd frame)
    repo = init_repository(LocalTarget(tmp_path / "repo"), Credentials(), encryption="none")
    source = tmp_path / "src"
    _mixed_tree(source)
    snap = create_snapshot(repo, plain_sources([source])).snapshot.id
    _damage_last_chunk_of(repo, snap, "big.bin")
    with pytest.raises(BlobCorrupt, match=r"big\.bin"):
        restore_snapshot(repo, snap, RestoreOptions(target=tmp_path / "out"))


@pytest.mark.parametrize("damaged", ["note-11.md", "big.bin"])  # the second half's, the first's
def test_in_place_restore_replaces_nothing_when_a_chunk_is_damaged(
    repo: Repository, tmp_path: Path, small_batches: None, damaged: str
) -> None:
    source = tmp_path / "src"
    _mixed_tree(source)
    sources = plain_sources([source])
    snap = create_snapshot(repo, sources).snapshot.id
    _damage_last_chunk_of(repo, snap, damaged)
    big = (source / "big.bin").read_bytes()
    for path in source.glob("note-*.md"):
        path.write_text("changed since the snapshot\n")
    with pytest.raises(BlobCorrupt, match=damaged.replace(".", r"\.")):
        restore_snapshot(repo, snap, RestoreOptions(in_place=True, safety_sources=sources))
    assert all(p.read_text() == "changed since the snapshot\n" for p in source.glob("note-*.md"))
    assert (source / "big.bin").read_bytes() == big
    assert not [p for p in source.iterdir() if p.name.startswith(".clawkeeper-restore-")]


def _reference_line(entry: Entry) -> bytes:
    """How tree lines were always written: one json.dumps of the whole entry."""
    doc: dict[str, Any] = {
        "p": entry.path,
        "t": entry.type.value,
        "m": entry.mode,
        "mt": entry.mtime_ns,
        "u": entry.uid,
        "g": entry.gid,
    }
    if entry.type is EntryType.FILE:
        doc["s"] = entry.size
        doc["c"] = entry.chunks.hex()
    if entry.link_target is not None:
        doc["l"] = entry.link_target
    if entry.sig is not None:
        doc["sig"] = entry.sig
    if entry.sqlite is not None:
        doc["db"] = entry.sqlite
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(
    "entry",
    [
        Entry('odd "name" ü', EntryType.FILE, 0o600, 1, 2, 3, 99, os.urandom(32 * 3000), sig="1:2:3:4"),
        Entry(
            "db.sqlite",
            EntryType.FILE,
            0o644,
            5,
            size=4096,
            chunks=os.urandom(32),
            sig="sqlite|x|-",
            sqlite={"page_size": 4096, "quick_check": "ok"},
        ),
        Entry("empty", EntryType.FILE, 0o644, 5),
        Entry("dir", EntryType.DIR, 0o700, 1),
        Entry("link", EntryType.SYMLINK, 0o777, 1, link_target="../x\ty"),
    ],
    ids=["file", "database", "empty", "dir", "symlink"],
)
def test_tree_lines_are_written_exactly_as_before(entry: Entry) -> None:
    line = _reference_line(entry)
    assert entry.to_line() == line  # same bytes: same tree blobs, so old and new snapshots dedup
    out = bytearray(b"previous line\n")
    entry.serialize_into(out)
    assert bytes(out) == b"previous line\n" + line
    quick = quick_file_entry(line)
    if quick is not None:
        assert (quick.path, quick.chunks, quick.sig) == (entry.path, entry.chunks, entry.sig)


def test_the_index_keeps_every_field_of_a_location() -> None:
    big = PackedBlob(b"b" * 32, BlobKind.TREE, BlobFlags.COMPRESSED, 2**32 - 40, 2**32 - 1, 2**32 - 2)
    small = PackedBlob(b"s" * 32, BlobKind.DATA, BlobFlags.NONE, 0, 28, 0)
    packs = [IndexedPack("c" * 64, 2**33, (big, small)), IndexedPack("d" * 64, 10, (small,))]
    from_objects, from_bytes = MasterIndex(), MasterIndex()
    from_objects.add("i", packs)
    from_bytes.add_encoded("i", encode_index(packs))
    for index in (from_objects, from_bytes):
        assert index.lookup(b"b" * 32) == IndexEntry(
            "c" * 64, BlobKind.TREE, BlobFlags.COMPRESSED, 2**32 - 40, 2**32 - 1, 2**32 - 2
        )
        assert index.lookup(b"s" * 32) == IndexEntry("c" * 64, BlobKind.DATA, BlobFlags.NONE, 0, 28, 0)
        assert [e.pack_id for e in index.locations(b"s" * 32)] == ["c" * 64, "d" * 64]
        assert index.packs_of(b"s" * 32 + b"b" * 32 + b"x" * 32) == {"c" * 64}
        assert index.usable_packs(b"s" * 32 + b"b" * 32) is not None
        assert index.usable_packs(b"s" * 32 + b"x" * 32) is None
        assert len(index) == 2 and index.pack_sizes == {"c" * 64: 2**33, "d" * 64: 10}
    marked = MasterIndex(marked=frozenset({"c" * 64}))
    marked.add_encoded("i", encode_index(packs))
    assert marked.lookup(b"s" * 32).pack_id == "d" * 64  # type: ignore[union-attr]
    assert marked.usable_packs(b"s" * 32 + b"b" * 32) is None


def test_the_file_list_is_cut_the_same_when_stored_as_it_grows(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "many"
    source.mkdir()
    for i in range(2500):
        (source / f"transcript-{i:04d}.jsonl").write_text(f"{i}\n")
    whole = create_snapshot(repo, plain_sources([source])).snapshot
    assert len(whole.tree) > 3  # several content-defined chunks
    monkeypatch.setattr(create_module, "TREE_FLUSH_BYTES", 20_000)
    streamed = create_snapshot(repo, plain_sources([source])).snapshot
    assert streamed.tree == whole.tree
    assert len(list(iter_tree(repo, streamed))) == 2501


def test_a_pack_buffer_that_starts_small_grows_to_hold_every_blob() -> None:
    cipher = AesGcmCipher(bytes(32))
    builder = PackBuilder(cipher, BlobKind.TREE, target_size=4 * 1024 * 1024)
    blobs = {os.urandom(32): os.urandom(size) for size in (100, 700_000, 1_500_000, 300_000, 2_000_000)}
    for blob_id, data in blobs.items():
        builder.add(blob_id, data, len(data), BlobFlags.NONE)
    data, records, _buffer = builder.finish()
    parsed = parse_pack(bytes(data), cipher)
    assert [b.blob_id for b in parsed] == list(blobs) == [r.blob_id for r in records]
    for blob in parsed:
        sealed = bytes(data[blob.offset : blob.offset + blob.length])
        assert cipher.open(sealed, blob.blob_id) == blobs[blob.blob_id]


def test_scratch_folders_of_killed_backups_are_removed_by_the_next_one(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    now = time.time()
    old = now - scratch.QUIET_S - 60

    def folder(name: str, mtime: float) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "db-0.sqlite").write_bytes(b"plaintext copy of the agent's memory")
        os.utime(path, (mtime, mtime))
        return path

    killed = folder(f"{scratch.PREFIX}{finished.pid}-abc123", old)
    running = folder(f"{scratch.PREFIX}{os.getpid()}-def456", old)
    just_now = folder(f"{scratch.PREFIX}{finished.pid}-ghi789", now)  # another namespace, maybe
    legacy_old = folder(f"{scratch.PREFIX}k3j4h5g6", now - scratch.STALE_S - 60)
    legacy_new = folder(f"{scratch.PREFIX}a1b2c3d4", old)
    unrelated = folder("something-else", old)

    assert scratch.remove_stale(tmp_path, now=now) == 2
    assert not killed.exists() and not legacy_old.exists()
    assert running.exists() and just_now.exists() and legacy_new.exists() and unrelated.exists()

    with scratch.scratch_folder(tmp_path) as inside:
        assert inside.name.startswith(f"{scratch.PREFIX}{os.getpid()}-")
        assert inside.stat().st_mode & 0o777 == 0o700
    assert not inside.exists()


def test_two_process_lanes_balance_cost_and_keep_path_order() -> None:
    def file(path: str, size: int, chunks: int = 1) -> Entry:
        ids = b"\0" * 32 * chunks
        return Entry(path=path, type=EntryType.FILE, mode=0o600, mtime_ns=0, size=size, chunks=ids)

    mib = 2**20
    files = [
        *(file(f"agents/s{i:04d}.jsonl", 90_000) for i in range(3000)),  # ~270 MB of transcripts
        file("models/m0.gguf", 300 * mib, 20),
        file("models/m1.gguf", 200 * mib, 13),
        file("state/memory.sqlite", 100 * mib, 25_600),  # few bytes per chunk: a database
    ]
    first, second = restore_lanes.split_balanced(files, restore_lanes.restore_cost)
    assert sorted(first + second, key=lambda e: e.path) == files  # every file, once
    for lane in (first, second):
        assert [e.path for e in lane] == sorted(e.path for e in lane)  # path order kept
    costs = [sum(map(restore_lanes.restore_cost, lane)) for lane in (first, second)]
    assert max(costs) <= 1.1 * min(costs)  # a contiguous cut would put the 300 MB model on one side
    in_first = {e.path for e in first}
    assert ("models/m0.gguf" in in_first) != ("models/m1.gguf" in in_first)  # the big two are split


def test_progress_counts_both_processes_bytes(repo: Repository, tmp_path: Path, small_batches: None) -> None:
    source = tmp_path / "src"
    _mixed_tree(source)
    snap = create_snapshot(repo, plain_sources([source])).snapshot.id
    events: list[Progress] = []
    report = restore_snapshot(repo, snap, RestoreOptions(target=tmp_path / "out"), events.append)
    assert events and events[-1].phase == "restore"
    assert events[-1].done_bytes == report.bytes == events[-1].total_bytes  # every byte, once
    assert events[-1].done_items == events[-1].total_items
