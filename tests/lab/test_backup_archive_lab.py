"""OpenClaw's own archive, kept in a clawkeeper snapshot of a real, running OpenClaw 2026.9.6 and
restored out of it, passes the real `openclaw backup verify`.

The whole path runs as a user runs it: `backup create --target lab:<instance> --openclaw-archive`
(the CLI runs inside the instance's namespaces, whose /tmp is private, so the staging folder has
to sit beside the state dir), then `backup restore --openclaw-archive-only --to DIR`.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from tests.lab.conftest import CONFIG, LabPool
from tests.support.cli import cli_json

from clawkeeper.backup.openclaw_archive import ARCHIVE_DIR, STAGING_PREFIX
from clawkeeper.backup.repository import Credentials, Repository
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.verify import VerifyOptions, verify_repository
from clawkeeper.effects import proc

pytestmark = pytest.mark.lab

VERSION = "2026.9.6"
PASSPHRASE = "lab test passphrase"


def test_the_archive_restored_from_a_snapshot_passes_openclaws_own_verify(
    lab_pool: LabPool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = lab_pool.get(VERSION)
    target = instance.target
    assert target.state_dir is not None and target.exec_prefix  # a CLI in the instance's namespaces
    beside_state = target.state_dir.parent
    repo_path = tmp_path / "repo"
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(CONFIG))
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CLAWKEEPER_BACKUP__REPO", str(repo_path))
    cli_json(capsys, "backup", "init")

    created = cli_json(capsys, "backup", "create", "--target", f"lab:{instance.name}", "--openclaw-archive")
    record = created["meta"]["openclaw_archive"]
    assert record["openclaw_version"] == VERSION and created["meta"]["openclaw_version"] == VERSION
    assert record["name"].endswith("-openclaw-backup.tar.gz") and record["size"] > 0
    assert not any("archive" in w for w in created["warnings"]), created["warnings"]
    assert not list(beside_state.glob(f"{STAGING_PREFIX}*"))  # staging folder removed

    repo = Repository.open(LocalTarget(repo_path), Credentials(passphrase=PASSPHRASE))
    try:
        snapshot = load_snapshot(repo, created["snapshot"])
        paths = {e.path for e in iter_tree(repo, snapshot)}
        assert f"{ARCHIVE_DIR}/{record['name']}" in paths
        assert any(p.endswith("state/openclaw.sqlite") for p in paths)  # and the agent, as always
        assert verify_repository(repo, VerifyOptions(read_data=True)).outcome.ok
    finally:
        repo.close()

    # restored where the instance's CLI can see it (its /tmp is not ours)
    out_dir = beside_state / f"restored-archive-{tmp_path.name}"
    try:
        restored = cli_json(
            capsys,
            "backup",
            "restore",
            created["snapshot"][:8],
            "--openclaw-archive-only",
            "--to",
            str(out_dir),
        )
        archive = Path(restored["file"])
        assert archive == out_dir / record["name"]
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == record["sha256"]

        result = proc.run(
            target.argv("backup", "verify", str(archive), "--json"), timeout=300, env=target.process_env()
        )
        assert result.returncode == 0, result.stderr_tail()
        verdict = proc.parse_json_output(result.stdout, what="openclaw backup verify")
        assert verdict["ok"] is True and verdict["assetCount"] >= 1
        assert verdict["runtimeVersion"] == VERSION
        assert record["name"].startswith(verdict["archiveRoot"])
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
