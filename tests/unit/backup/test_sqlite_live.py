"""Databases captured while another process writes restore consistent (integrity_check ok)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.sqlite_capture import capture, sidecar_of, source_signature

WRITER = r"""
import os, sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT, b BLOB)")
conn.execute("CREATE TABLE IF NOT EXISTS t_count (n INTEGER)")
conn.execute("INSERT INTO t_count SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM t_count)")
print("ready", flush=True)
i = 0
while True:
    # each transaction keeps t and its counter in step: a torn copy would disagree
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", ("row %d " % i * 10, os.urandom(300)))
    conn.execute("UPDATE t SET a = 'touched' WHERE id = ?", (max(1, i // 2),))
    conn.execute("UPDATE t_count SET n = n + 1")
    conn.execute("COMMIT")
    i += 1
"""


def test_snapshots_of_a_database_under_live_writes_restore_consistent(
    repo: Repository, tmp_path: Path
) -> None:
    data = tmp_path / "live"
    data.mkdir()
    db = data / "agent.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        snapshots = []
        for _ in range(3):
            time.sleep(0.3)
            snapshots.append(create_snapshot(repo, plain_sources([data])).snapshot.id)
    finally:
        writer.kill()
        writer.wait()
    counts = []
    for n, snapshot_id in enumerate(snapshots):
        target = tmp_path / f"restore-{n}"
        report = restore_snapshot(repo, snapshot_id, RestoreOptions(target=target))
        assert set(report.databases.values()) == {"ok"}
        conn = sqlite3.connect(target / str(db).lstrip("/"))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
        assert conn.execute("SELECT n FROM t_count").fetchone()[0] == rows  # one transaction boundary
        counts.append(rows)
        conn.close()
    assert counts[0] > 0 and counts == sorted(counts)


def test_capture_sees_commits_that_are_still_in_the_wal(tmp_path: Path) -> None:
    db = tmp_path / "wal.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # keep every commit in -wal
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)])
    conn.commit()
    assert (tmp_path / "wal.sqlite-wal").stat().st_size > 0
    image = capture(db, tmp_path / "image.sqlite")
    copy = sqlite3.connect(image.image)
    assert copy.execute("SELECT count(*) FROM t").fetchone()[0] == 500
    copy.close()
    conn.close()
    assert image.quick_check == "ok" and image.page_size == 4096


def test_capture_never_blocks_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "busy.sqlite"
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (randomblob(4000))", [()] * 3000)
    conn.commit()
    stop = threading.Event()
    commits = 0

    def write() -> None:
        nonlocal commits
        while not stop.is_set():
            conn.execute("INSERT INTO t VALUES (randomblob(100))")
            conn.commit()
            commits += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for n in range(3):
            capture(db, tmp_path / f"img{n}.sqlite")
    finally:
        stop.set()
        thread.join()
    assert commits > 0


def test_signature_changes_with_every_commit_but_not_with_reads(tmp_path: Path) -> None:
    db = tmp_path / "sig.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    first = source_signature(db)
    capture(db, tmp_path / "read.sqlite")
    assert source_signature(db) == first
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    assert source_signature(db) != first
    conn.close()


def test_sidecar_names() -> None:
    assert sidecar_of("openclaw.sqlite-wal") == "openclaw.sqlite"
    assert sidecar_of("openclaw.sqlite-journal") == "openclaw.sqlite"
    assert sidecar_of("notes-wal.md") is None
    assert sidecar_of("-wal") is None
