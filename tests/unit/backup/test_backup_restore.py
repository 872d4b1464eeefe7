"""Back up an agent-like state dir and restore it: content, modes, links, and what is left out."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.backup.create import BackupOptions, create_snapshot
from clawkeeper.backup.diff import diff_snapshots
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, busy_processes, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, list_snapshots, load_snapshot
from clawkeeper.backup.sources import OpenClawPaths, openclaw_sources, plain_sources
from clawkeeper.errors import ResourceConflict, UsageError

from .conftest import make_database, reopen


def restored(target: Path, original: Path) -> Path:
    return target / str(original).lstrip("/")


def tree_listing(root: Path) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link:" + path.readlink().as_posix(), 0)
        elif path.is_file():
            out[rel] = (
                path.read_bytes().hex() if not path.name.endswith(".sqlite") else "db",
                path.stat().st_mode & 0o7777,
            )
        else:
            out[rel] = ("dir", path.stat().st_mode & 0o7777)
    return out


def test_agent_round_trip_keeps_content_modes_and_leaves_out_runtime_junk(
    repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    (agent_state / "link-to-env").symlink_to(".env")
    (agent_state / "escape").symlink_to("/etc/passwd")
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    result = create_snapshot(repo, sources, BackupOptions(meta={"openclaw_version": "2026.8.2"}))
    assert not result.incomplete

    target = tmp_path / "restore"
    report = restore_snapshot(reopen(repo.target.root), result.snapshot.id, RestoreOptions(target=target))  # type: ignore[attr-defined]
    back = restored(target, agent_state)
    assert report.roots[str(agent_state)] == str(back)
    assert (back / ".env").read_text() == "OPENAI_API_KEY=sk-test\n"
    assert (back / ".env").stat().st_mode & 0o777 == 0o600
    assert (back / "credentials/whatsapp/creds.json").stat().st_mode & 0o777 == 0o600
    assert (back / "link-to-env").readlink().as_posix() == ".env"
    assert (back / "escape").readlink().as_posix() == "/etc/passwd"  # kept as a link, never followed
    assert (back / "agents/main/sessions/s3.jsonl").read_text() == (
        agent_state / "agents/main/sessions/s3.jsonl"
    ).read_text()
    assert (back / "workspace/memory/2026-11-01.md").exists()
    assert (back / "extensions/plug/index.js").exists()
    for junk in ("tmp", "npm", "agents/main/tmp", "extensions/plug/node_modules", "gateway.pid"):
        assert not (back / junk).exists(), junk
    assert (back / ".env").stat().st_mtime_ns == (agent_state / ".env").stat().st_mtime_ns

    # databases come back whole and consistent, without sidecars
    assert set(report.databases.values()) == {"ok"}
    for db in ("state/openclaw.sqlite", "agents/main/agent/openclaw-agent.sqlite"):
        conn = sqlite3.connect(back / db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 15
        conn.close()
    assert not list(back.rglob("*-wal")) or all(p.stat().st_size == 0 for p in back.rglob("*-wal"))

    snap = load_snapshot(repo, result.snapshot.id)
    assert snap.meta["openclaw_version"] == "2026.8.2"
    assert snap.meta["config_last_touched_version"] == "2026.8.2"
    assert (
        snap.meta["databases"]["" + str(agent_state / "state/openclaw.sqlite").lstrip("/")]["user_version"]
        == 15
    )
    assert snap.stats["excluded"] >= 5


def test_unchanged_files_are_not_read_again_and_changes_are_found(
    repo: Repository, agent_state: Path
) -> None:
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    first = create_snapshot(repo, sources)
    # reading a database creates its (empty) -wal/-shm, which touches the directory once
    warm = create_snapshot(repo, sources)
    second = create_snapshot(repo, sources)
    assert warm.snapshot.parent == first.snapshot.id and second.snapshot.parent == warm.snapshot.id
    assert second.snapshot.stats["files_read"] == 0
    assert second.snapshot.stats["databases_reused"] == 2
    assert second.snapshot.stats["added_raw_bytes"] == 0
    assert second.snapshot.tree == warm.snapshot.tree

    with (agent_state / "agents/main/sessions/s1.jsonl").open("a") as handle:
        handle.write('{"role":"assistant","text":"new"}\n')
    conn = sqlite3.connect(agent_state / "state/openclaw.sqlite")
    conn.execute("UPDATE memory SET text = 'changed' WHERE id = 7")
    conn.commit()
    conn.close()
    third = create_snapshot(repo, sources)
    assert third.snapshot.stats["files_read"] == 1
    assert third.snapshot.stats["databases_reused"] == 1

    changes = {
        c.path.rsplit("/", 1)[-1]: c.kind
        for c in diff_snapshots(repo, second.snapshot.id, third.snapshot.id).changes
    }
    assert changes == {"s1.jsonl": "modified", "openclaw.sqlite": "modified"}


def test_a_few_changed_rows_store_a_few_pages_not_the_database(repo: Repository, tmp_path: Path) -> None:
    db = tmp_path / "data" / "memory.sqlite"
    db.parent.mkdir()
    make_database(db, rows=6000)
    size = db.stat().st_size
    sources = plain_sources([db.parent])
    create_snapshot(repo, sources)
    conn = sqlite3.connect(db)
    for row in range(1, 6000, 600):
        conn.execute("UPDATE memory SET text = ? WHERE id = ?", (f"edited {row}", row))
    conn.execute("INSERT INTO memory (text, vec) VALUES ('fresh', x'00')")
    conn.commit()
    conn.close()
    result = create_snapshot(repo, sources)
    assert result.snapshot.stats["added_raw_bytes"] < size * 0.1, (result.snapshot.stats, size)


def test_dry_run_counts_but_stores_nothing(repo: Repository, agent_state: Path, repo_path: Path) -> None:
    before = sorted(p.name for p in repo_path.rglob("*"))
    result = create_snapshot(
        repo, openclaw_sources(OpenClawPaths(state_dir=agent_state)), BackupOptions(dry_run=True)
    )
    assert result.dry_run and result.snapshot.stats["added_raw_bytes"] > 0
    assert sorted(p.name for p in repo_path.rglob("*")) == before
    assert list_snapshots(repo) == []


def test_restore_of_selected_paths_only(repo: Repository, agent_state: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, openclaw_sources(OpenClawPaths(state_dir=agent_state))).snapshot
    target = tmp_path / "partial"
    wanted = str(agent_state / "workspace")
    report = restore_snapshot(repo, snap.id, RestoreOptions(target=target, paths=(wanted,)))
    back = restored(target, agent_state)
    assert (back / "workspace/MEMORY.md").exists()
    assert not (back / ".env").exists()
    assert report.files == 2
    with pytest.raises(UsageError, match="holds nothing"):
        restore_snapshot(repo, snap.id, RestoreOptions(target=tmp_path / "none", paths=("/no/such/path",)))


def test_restore_refuses_a_non_empty_target(repo: Repository, agent_state: Path, tmp_path: Path) -> None:
    snap = create_snapshot(repo, openclaw_sources(OpenClawPaths(state_dir=agent_state))).snapshot
    target = tmp_path / "busy"
    target.mkdir()
    (target / "something").write_text("mine")
    with pytest.raises(UsageError, match="not empty"):
        restore_snapshot(repo, snap.id, RestoreOptions(target=target))
    assert (target / "something").read_text() == "mine"


def test_in_place_restore_takes_a_safety_snapshot_and_drops_stale_sidecars(
    repo: Repository, agent_state: Path
) -> None:
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    good = create_snapshot(repo, sources).snapshot
    (agent_state / "workspace/MEMORY.md").write_text("# ruined by a bad update\n")
    db = agent_state / "state/openclaw.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM memory")
    conn.commit()
    conn.close()
    (agent_state / "state/openclaw.sqlite-wal").write_bytes(b"stale wal that must not be replayed")

    report = restore_snapshot(repo, good.id, RestoreOptions(in_place=True, safety_sources=sources))
    assert report.safety_snapshot is not None
    assert (agent_state / "workspace/MEMORY.md").read_text() == "# memory\n"
    assert not (agent_state / "state/openclaw.sqlite-wal").exists()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM memory").fetchone()[0] == 2000
    conn.close()
    safety = load_snapshot(repo, report.safety_snapshot)
    assert "pre-restore" in safety.tags
    memory = next(e for e in iter_tree(repo, safety) if e.path.endswith("workspace/MEMORY.md"))
    assert memory.size == len("# ruined by a bad update\n")


def test_in_place_restore_is_refused_while_a_process_holds_the_state_open(
    repo: Repository, agent_state: Path
) -> None:
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    snap = create_snapshot(repo, sources).snapshot
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; f=open(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
            str(agent_state / "openclaw.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        busy = busy_processes([agent_state])
        assert busy and str(holder.pid) in busy[0]
        with pytest.raises(ResourceConflict, match="open in running processes"):
            restore_snapshot(repo, snap.id, RestoreOptions(in_place=True, safety_sources=sources))
    finally:
        holder.kill()
        holder.wait()
    assert len(list_snapshots(repo)) == 1  # refused before the safety snapshot or any write
