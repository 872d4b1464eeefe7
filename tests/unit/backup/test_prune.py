"""Two-phase prune: mark on one run, delete on a later one, never under a backup's feet."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.forget import forget_snapshots
from clawkeeper.backup.prune import PruneOptions, prune_repository
from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.retention import RetentionPolicy
from clawkeeper.backup.sessions import PRUNE_LOCK, Session
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.verify import VerifyOptions, verify_repository
from clawkeeper.errors import IntegrityError, ResourceConflict

from .conftest import PASSPHRASE, reopen

NOW = PruneOptions(grace_s=0)


def packs(repo_path: Path) -> set[str]:
    return {p.name for p in (repo_path / "data").rglob("*") if p.is_file() and not p.name.startswith(".")}


def folder(tmp_path: Path, name: str, files: int = 3, size: int = 50_000) -> Path:
    path = tmp_path / name
    path.mkdir()
    for i in range(files):
        (path / f"{name}-{i}.bin").write_bytes(os.urandom(size))
    return path


def assert_healthy(repo_path: Path) -> None:
    report = verify_repository(reopen(repo_path), VerifyOptions(read_data=True))
    assert report.outcome.ok, [p.message for p in report.problems]


def test_forgotten_data_is_marked_first_and_deleted_on_a_later_run(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    a, b = folder(tmp_path, "a"), folder(tmp_path, "b")
    snap_a = create_snapshot(repo, plain_sources([a])).snapshot.id
    snap_b = create_snapshot(repo, plain_sources([b])).snapshot.id
    before = packs(repo_path)
    repo.target.delete(f"snapshots/{snap_a}")

    first = prune_repository(reopen(repo_path), NOW)
    assert first.new_mark and first.marked_packs >= 1 and first.deleted_packs == 0
    assert packs(repo_path) == before  # phase 1 deletes nothing
    assert_healthy(repo_path)

    second = prune_repository(reopen(repo_path), NOW)
    assert second.swept_marks == [first.new_mark] and second.deleted_packs == first.marked_packs
    assert len(packs(repo_path)) == len(before) - second.deleted_packs
    assert not list((repo_path / "marks").iterdir())
    assert_healthy(repo_path)
    restore_snapshot(reopen(repo_path), snap_b, RestoreOptions(target=tmp_path / "out"))
    assert (tmp_path / "out" / str(b).lstrip("/") / "b-1.bin").read_bytes() == (b / "b-1.bin").read_bytes()


def test_the_grace_period_postpones_deletion(repo: Repository, repo_path: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    repo.target.delete(f"snapshots/{snap}")
    prune_repository(reopen(repo_path), NOW)
    before = packs(repo_path)
    result = prune_repository(reopen(repo_path), PruneOptions(grace_s=3600))
    assert result.deleted_packs == 0 and "grace period" in next(iter(result.postponed_marks.values()))
    assert packs(repo_path) == before


def test_a_running_backup_that_began_before_the_mark_postpones_the_sweep(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    repo.target.delete(f"snapshots/{snap}")
    with Session(repo.target, "backup"):  # started before the mark below
        prune_repository(reopen(repo_path), NOW)
        before = packs(repo_path)
        blocked = prune_repository(reopen(repo_path), NOW)
        assert blocked.deleted_packs == 0
        assert "still running" in next(iter(blocked.postponed_marks.values()))
        assert packs(repo_path) == before
    done = prune_repository(reopen(repo_path), NOW)
    assert done.deleted_packs >= 1


def test_a_dead_backup_never_blocks_prune(repo: Repository, repo_path: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    repo.target.delete(f"snapshots/{snap}")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record = {
        "kind": "backup",
        "host": socket.gethostname(),
        "pid": int(dead.stdout),
        "started_at": 0,
        "heartbeat": time.time(),
    }
    repo.target.write("sessions/killed.json", json.dumps(record).encode())  # a kill -9 leftover
    prune_repository(reopen(repo_path), NOW)
    assert prune_repository(reopen(repo_path), NOW).deleted_packs >= 1
    assert not (repo_path / "sessions" / "killed.json").exists()


def test_backups_after_a_mark_store_data_anew_instead_of_reusing_marked_packs(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    a = folder(tmp_path, "a")
    old = create_snapshot(repo, plain_sources([a])).snapshot.id
    repo.target.delete(f"snapshots/{old}")
    prune_repository(reopen(repo_path), NOW)  # marks a's packs
    again = create_snapshot(reopen(repo_path), plain_sources([a]))
    assert again.snapshot.stats["added_raw_bytes"] >= 150_000  # not deduplicated against marked packs
    prune_repository(reopen(repo_path), NOW)  # deletes the marked packs
    assert_healthy(repo_path)
    restore_snapshot(reopen(repo_path), again.snapshot.id, RestoreOptions(target=tmp_path / "out"))
    assert (tmp_path / "out" / str(a).lstrip("/") / "a-2.bin").read_bytes() == (a / "a-2.bin").read_bytes()


def test_a_pack_a_newer_snapshot_needs_is_rescued(repo: Repository, repo_path: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    saved = (repo_path / "snapshots" / snap).read_bytes()
    repo.target.delete(f"snapshots/{snap}")
    prune_repository(reopen(repo_path), NOW)
    # a backup that began before the mark finished and named those packs (its snapshot appears)
    repo.target.write(f"snapshots/{snap}", saved)
    result = prune_repository(reopen(repo_path), NOW)
    assert result.rescued_packs >= 1 and result.deleted_packs == 0
    assert_healthy(repo_path)


def test_sparse_packs_are_repacked_then_reclaimed(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo = init_repository(LocalTarget(path), Credentials(passphrase=PASSPHRASE), pack_size=400_000)
    src = folder(tmp_path, "src", files=6, size=60_000)
    create_snapshot(repo, plain_sources([src]))
    for f in sorted(src.iterdir())[1:]:
        f.unlink()
    keep = create_snapshot(repo, plain_sources([src])).snapshot.id
    forget_snapshots(repo, RetentionPolicy(last=1))
    first = prune_repository(reopen(path), PruneOptions(grace_s=0, repack_below=0.5))
    assert first.repacked_packs >= 1
    assert_healthy(path)
    second = prune_repository(reopen(path), PruneOptions(grace_s=0, repack_below=0.5))
    assert second.deleted_packs >= first.repacked_packs
    assert_healthy(path)
    restore_snapshot(reopen(path), keep, RestoreOptions(target=tmp_path / "out"))
    restored = tmp_path / "out" / str(src).lstrip("/")
    assert [p.name for p in restored.iterdir()] == ["src-0.bin"]


def test_orphans_of_an_interrupted_backup_are_collected(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    create_snapshot(repo, plain_sources([folder(tmp_path, "a")]))
    orphan = repo_path / "data" / "ee" / ("ee" + "1" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"pack written, never indexed")
    assert prune_repository(reopen(repo_path), NOW).marked_orphans == 1
    prune_repository(reopen(repo_path), NOW)
    assert not orphan.exists()
    assert_healthy(repo_path)


def test_prune_deletes_nothing_when_a_snapshot_cannot_be_read(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    create_snapshot(repo, plain_sources([folder(tmp_path, "b")]))
    path = repo_path / "snapshots" / snap
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    before = packs(repo_path)
    with pytest.raises(IntegrityError, match="prune stopped"):
        prune_repository(reopen(repo_path), NOW)
    assert packs(repo_path) == before and not (repo_path / "marks").exists()


def test_prunes_exclude_each_other_but_a_dead_prune_lock_is_broken(repo: Repository, repo_path: Path) -> None:
    live = {
        "kind": "prune",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": time.time(),
        "heartbeat": time.time(),
    }
    repo.target.write(PRUNE_LOCK, json.dumps(live).encode())
    with pytest.raises(ResourceConflict, match="another prune"):
        prune_repository(reopen(repo_path), NOW)
    dead = dict(live, pid=2**22 + 12345)
    repo.target.write(PRUNE_LOCK, json.dumps(dead).encode())
    prune_repository(reopen(repo_path), NOW)
    assert not (repo_path / PRUNE_LOCK).exists()


def test_dry_run_changes_nothing(repo: Repository, repo_path: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, plain_sources([folder(tmp_path, "a")])).snapshot.id
    repo.target.delete(f"snapshots/{snap}")
    listing = sorted(str(p) for p in repo_path.rglob("*"))
    result = prune_repository(reopen(repo_path), PruneOptions(grace_s=0, dry_run=True))
    assert result.marked_packs >= 1 and result.new_mark is None
    assert sorted(str(p) for p in repo_path.rglob("*")) == listing
