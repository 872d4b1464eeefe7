"""A database with more pages than a tree line should carry keeps its chunk ids in list blobs:
backed up, reused, restored, verified, diffed and pruned like any file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clawkeeper.backup import create
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.diff import diff_snapshots
from clawkeeper.backup.packs import pack_object_name
from clawkeeper.backup.prune import PruneOptions, prune_repository
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import content_slices, iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.tree import Entry
from clawkeeper.backup.verify import VerifyOptions, verify_repository
from clawkeeper.errors import ClawkeeperError

from .conftest import make_database, reopen


@pytest.fixture(autouse=True)
def small_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    # the test database has ~150 pages: inline up to 16, then lists of 40 ids
    monkeypatch.setattr(create, "INLINE_MAX", 16)
    monkeypatch.setattr(create, "LIST_BYTES", 40 * 32)


def _database(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "state"
    folder.mkdir()
    db = folder / "memory.sqlite"
    make_database(db, rows=400)
    return folder, db


def _db_entry(repo: Repository, snapshot_id: str, db: Path) -> Entry:
    snapshot = load_snapshot(repo, snapshot_id)
    return next(e for e in iter_tree(repo, snapshot) if e.path == str(db).lstrip("/"))


def test_a_big_database_is_stored_in_list_blobs_and_restores_whole(repo: Repository, tmp_path: Path) -> None:
    folder, db = _database(tmp_path)
    snap = create_snapshot(repo, plain_sources([folder])).snapshot.id
    entry = _db_entry(repo, snap, db)
    pages = db.stat().st_size // 4096
    assert entry.chunks == b"" and len(entry.chunk_lists) == 32 * -(-pages // 40)
    assert entry.listed == pages == entry.chunk_count
    assert sum(len(ids) for ids in content_slices(repo, entry)) == 32 * pages
    report = restore_snapshot(repo, snap, RestoreOptions(target=tmp_path / "out"))
    restored = tmp_path / "out" / str(db).lstrip("/")
    assert report.databases[str(db).lstrip("/")] == "ok"
    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT count(*) FROM memory").fetchone() == (400,)
    assert verify_repository(repo, VerifyOptions(read_data=True)).outcome.ok


def test_an_unchanged_database_reuses_its_lists_and_a_changed_one_diffs(
    repo: Repository, tmp_path: Path
) -> None:
    folder, db = _database(tmp_path)
    first = create_snapshot(repo, plain_sources([folder])).snapshot.id
    second = create_snapshot(repo, plain_sources([folder])).snapshot
    assert second.stats["databases_reused"] == 1
    assert _db_entry(repo, second.id, db).chunk_lists == _db_entry(repo, first, db).chunk_lists
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE memory SET text = 'changed' WHERE id % 50 = 0")
    third = create_snapshot(repo, plain_sources([folder])).snapshot.id
    assert _db_entry(repo, third, db).chunk_lists != _db_entry(repo, first, db).chunk_lists
    changes = diff_snapshots(repo, first, third)
    assert [c.path for c in changes.changes if c.kind == "modified"] == [str(db).lstrip("/")]
    assert not diff_snapshots(repo, first, second.id).changes


def test_prune_keeps_the_lists_a_remaining_snapshot_needs(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    folder, db = _database(tmp_path)
    old = create_snapshot(repo, plain_sources([folder])).snapshot.id
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM memory WHERE id % 3 = 0")
    conn.execute("VACUUM")  # most pages move: the old snapshot's lists and pages are garbage
    conn.close()
    kept = create_snapshot(repo, plain_sources([folder])).snapshot.id
    repo.target.delete(f"snapshots/{old}")
    for _ in range(2):  # mark, then sweep
        prune_repository(reopen(repo_path), PruneOptions(grace_s=0))
    again = reopen(repo_path)
    assert verify_repository(again, VerifyOptions(read_data=True)).outcome.ok
    restore_snapshot(again, kept, RestoreOptions(target=tmp_path / "out"))
    with sqlite3.connect(tmp_path / "out" / str(db).lstrip("/")) as conn:
        assert conn.execute("SELECT count(*) FROM memory").fetchone() == (267,)


def test_a_damaged_list_blob_is_named_by_verify_and_stops_a_restore(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    folder, db = _database(tmp_path)
    snap = create_snapshot(repo, plain_sources([folder])).snapshot.id
    entry = _db_entry(repo, snap, db)
    located = repo.index.lookup(entry.chunk_lists[:32])
    assert located is not None
    pack = repo_path / pack_object_name(located.pack_id)
    data = bytearray(pack.read_bytes())
    data[located.offset + 5] ^= 0xFF
    pack.write_bytes(bytes(data))

    report = verify_repository(reopen(repo_path), VerifyOptions(read_data=True))
    assert not report.outcome.ok
    damaged = [f for f in report.damaged_files if f["path"] == str(db).lstrip("/")]
    assert damaged and "chunk list" in damaged[0]["reason"]
    with pytest.raises(ClawkeeperError, match="does not authenticate"):
        restore_snapshot(reopen(repo_path), snap, RestoreOptions(target=tmp_path / "out"))
