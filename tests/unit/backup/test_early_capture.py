"""A changed database is captured before the tree is scanned, and never at the cost of a change.

The parent snapshot records each database's fingerprint; a backup starts copying the largest one
whose fingerprint moved while it loads the index and scans. The fingerprint it records is the one
taken before that copy started, so a commit landing during the backup is captured next time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.backup import create as create_module
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.sources import plain_sources

from .conftest import make_database


def _rows(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM memory").fetchone()[0])
    finally:
        conn.close()


def _insert(db: Path, n: int) -> None:
    conn = sqlite3.connect(db)
    try:
        rows = [(f"late {i}",) for i in range(n)]
        conn.executemany("INSERT INTO memory (text, vec) VALUES (?, x'00')", rows)
        conn.commit()
    finally:
        conn.close()


def _restored_rows(repo: Repository, snapshot_id: str, db: Path, out: Path) -> int:
    restore_snapshot(repo, snapshot_id, RestoreOptions(target=out))
    return _rows(out / str(db).lstrip("/"))


@pytest.fixture
def early_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = create_module._Captures.early

    def spy(self: Any, path: Path, sig: str) -> None:
        calls.append(path)
        real(self, path, sig)

    monkeypatch.setattr(create_module._Captures, "early", spy)
    return calls


def test_a_changed_database_is_captured_early_and_restores_with_its_changes(
    repo: Repository, tmp_path: Path, early_calls: list[Path]
) -> None:
    src = tmp_path / "state"
    src.mkdir()
    db = src / "memory.sqlite"
    make_database(db, rows=500)
    first = create_snapshot(repo, plain_sources([src])).snapshot
    assert first.meta["databases"][str(db).lstrip("/")]["sig"]  # the next backup compares to it
    assert early_calls == []  # nothing to compare with yet

    create_snapshot(repo, plain_sources([src]))  # unchanged: reused, nothing captured early
    assert early_calls == []

    _insert(db, 40)
    third = create_snapshot(repo, plain_sources([src])).snapshot
    assert early_calls == [db]
    assert third.stats["databases_reused"] == 0
    assert _restored_rows(repo, third.id, db, tmp_path / "out") == 540


def test_a_commit_during_the_backup_is_captured_by_the_next_one(
    repo: Repository, tmp_path: Path, early_calls: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "state"
    src.mkdir()
    db = src / "memory.sqlite"
    make_database(db, rows=300)
    create_snapshot(repo, plain_sources([src]))
    _insert(db, 10)

    real_capture = create_module.capture
    real_plan = create_module._Backup._databases_to_capture
    committed = threading.Event()

    def capture_then_commit(source: Path, image: Path, **kwargs: Any) -> Any:
        captured = real_capture(source, image, **kwargs)
        if image.name == "db-early.sqlite":
            _insert(db, 5)  # lands after the early copy...
            committed.set()
        return captured

    def plan_after_the_commit(self: Any, *args: Any) -> Any:
        assert committed.wait(30)  # ...and before the backup fingerprints its databases
        return real_plan(self, *args)

    monkeypatch.setattr(create_module, "capture", capture_then_commit)
    monkeypatch.setattr(create_module._Backup, "_databases_to_capture", plan_after_the_commit)
    during = create_snapshot(repo, plain_sources([src])).snapshot
    assert early_calls == [db]
    assert _restored_rows(repo, during.id, db, tmp_path / "out-1") == 310  # the copy it made

    monkeypatch.setattr(create_module, "capture", real_capture)
    monkeypatch.setattr(create_module._Backup, "_databases_to_capture", real_plan)
    after = create_snapshot(repo, plain_sources([src])).snapshot
    assert after.stats["databases_reused"] == 0  # not mistaken for unchanged
    assert _restored_rows(repo, after.id, db, tmp_path / "out-2") == 315


def test_only_databases_below_the_backed_up_roots_are_captured_early(
    repo: Repository, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        make_database(folder / "memory.sqlite", rows=100)
    parent = create_snapshot(repo, plain_sources([a, b])).snapshot  # records both fingerprints
    _insert(a / "memory.sqlite", 5)
    _insert(b / "memory.sqlite", 5)

    class Recorder:
        def __init__(self) -> None:
            self.paths: list[Path] = []

        def early(self, path: Path, sig: str) -> None:
            self.paths.append(path)

    for roots, expected in (([a, b], 1), ([b], 1), ([tmp_path / "elsewhere"], 0)):
        recorder = Recorder()
        backup = create_module._Backup(repo, plain_sources(roots), create_module.BackupOptions(), None)
        backup._capture_early(parent, recorder)  # type: ignore[arg-type]
        assert len(recorder.paths) == expected
        assert all(any(p.is_relative_to(r) for r in roots) for p in recorder.paths)
