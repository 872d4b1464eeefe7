"""Back up a real, running OpenClaw, restore it into a fresh folder, and start OpenClaw from it.

The snapshot is taken while the gateway runs (and writes its databases); the restored state must
pass integrity checks and the same OpenClaw version must come up ready (`/readyz` 200) on it.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.lab.conftest import LabPool

from clawkeeper.agent.sandbox import Sandbox
from clawkeeper.backup import restore_lanes
from clawkeeper.backup.create import BackupOptions, create_snapshot
from clawkeeper.backup.openclaw_facts import openclaw_facts
from clawkeeper.backup.repository import Credentials, init_repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import openclaw_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.verify import VerifyOptions, verify_repository
from clawkeeper.effects import proc

pytestmark = pytest.mark.lab

VERSION = "2026.9.6"


@pytest.fixture
def own_instance(lab_pool: LabPool) -> Iterator[Sandbox]:
    """A lab instance of our own: the test stops it and swaps its state, which shared ones must not see."""
    with lab_pool.private(VERSION, "backup", 18990) as sandbox:
        yield sandbox


def test_a_live_agent_restores_into_a_state_the_same_version_starts_from(
    own_instance: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a lab state is smaller than the 32 MiB from which a restore splits into two processes:
    # split this one too, so the way big agents are restored is the way that is started from
    monkeypatch.setattr(restore_lanes, "FORK_MIN_BYTES", 0)
    target = own_instance.target()
    assert target.state_dir is not None
    facts = openclaw_facts(target)
    assert facts.meta.get("openclaw_version") == VERSION

    # the gateway is running: the snapshot is taken while it holds its databases open
    status = own_instance.status(probe=True)
    assert status.running and status.ready, status.readiness_error
    health = proc.run(target.argv("health", "--json"), timeout=60, env=target.process_env())
    assert health.returncode == 0, health.stderr_tail()

    repo = init_repository(LocalTarget(tmp_path / "repo"), Credentials(passphrase="lab test passphrase"))
    sources = openclaw_sources(facts.paths)
    result = create_snapshot(repo, sources, BackupOptions(meta=facts.meta))
    assert not result.incomplete, result.warnings
    snapshot = load_snapshot(repo, result.snapshot.id)
    databases = snapshot.meta["databases"]
    assert any(path.endswith("state/openclaw.sqlite") for path in databases), databases
    assert all(db["quick_check"] == "ok" and db["user_version"] > 0 for db in databases.values())
    paths = {e.path for e in iter_tree(repo, snapshot)}
    assert not any(p.endswith(("-wal", "-shm")) for p in paths)  # captured through the backup API
    assert verify_repository(repo, VerifyOptions(read_data=True)).outcome.ok

    own_instance.down()
    restored_root = tmp_path / "restored"
    report = restore_snapshot(repo, snapshot.id, RestoreOptions(target=restored_root))
    assert report.ok and report.databases, report.databases
    restored_state = Path(report.roots[str(target.state_dir)])
    for db in databases:
        conn = sqlite3.connect(restored_root / db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == databases[db]["user_version"]
        finally:
            conn.close()

    # activate the restored copy the way a user would: stopped gateway, swap the state dir, start
    live = target.state_dir
    shutil.move(str(live), str(tmp_path / "state-before-restore"))
    shutil.move(str(restored_state), str(live))
    own_instance.up(version=VERSION)
    after = own_instance.status(probe=True)
    assert after.running and after.ready, after.readiness_error
    restarted = own_instance.target()  # new namespaces after the restart
    again = proc.run(restarted.argv("health", "--json"), timeout=60, env=restarted.process_env())
    assert again.returncode == 0, again.stderr_tail()
