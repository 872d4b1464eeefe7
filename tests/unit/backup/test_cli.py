"""`clawkeeper backup ...` end to end: JSON shapes, exit codes, ledger records, no lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.config import load_config
from clawkeeper.errors import ExitCode
from clawkeeper.ledger import Ledger
from tests.support.cli import cli, cli_json

from .conftest import PASSPHRASE


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", PASSPHRASE)



def test_the_whole_life_of_a_repository(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path
) -> None:
    repo = str(tmp_path / "repo")
    assert cli_json(capsys, "backup", "init", "--repo", repo)["key_mode"] == "passphrase"
    first = cli_json(
        capsys,
        "backup",
        "create",
        "--repo",
        repo,
        "--state-dir",
        str(agent_state),
        "--openclaw-version",
        "2026.8.2",
        "--tag",
        "nightly",
    )
    assert first["kind"] == "backup.create" and first["stats"]["databases"] == 2 and not first["incomplete"]
    assert first["meta"]["openclaw_version"] == "2026.8.2"
    (agent_state / "workspace" / "MEMORY.md").write_text("# memory, edited\n")
    second = cli_json(capsys, "backup", "create", "--repo", repo, "--state-dir", str(agent_state))

    listing = cli_json(capsys, "backup", "list", "--repo", repo)
    assert [s["id"] for s in listing["snapshots"]] == [first["snapshot"], second["snapshot"]]
    shown = cli_json(capsys, "backup", "show", second["snapshot"][:8], "--repo", repo, "--files")
    assert any(f["path"].endswith("/.env") and f["mode"] == "600" for f in shown["snapshot"]["files"])
    changes = cli_json(capsys, "backup", "diff", first["snapshot"][:8], "latest", "--repo", repo)
    assert [c["path"].rsplit("/", 1)[-1] for c in changes["changes"] if c["kind"] == "modified"] == [
        "MEMORY.md"
    ]

    report = cli_json(capsys, "backup", "verify", "--repo", repo, "--read-data")
    assert report["outcome"]["verdict"] == "passed" and report["packs_read"] == report["packs"]

    restored = cli_json(capsys, "backup", "restore", "latest", "--repo", repo, "--to", str(tmp_path / "out"))
    assert set(restored["databases"].values()) == {"ok"}
    state_copy = Path(restored["roots"][str(agent_state)])
    assert (state_copy / "workspace" / "MEMORY.md").read_text() == "# memory, edited\n"

    plan = cli_json(capsys, "backup", "forget", "--repo", repo, "--keep-last", "1", "--dry-run")
    assert [s["id"] for s in plan["forget"]] == [first["snapshot"]] and plan["removed"] == []
    done = cli_json(capsys, "backup", "forget", "--repo", repo, "--keep-last", "1")
    assert done["removed"] == [first["snapshot"]]
    for _ in range(2):
        pruned = cli_json(capsys, "backup", "prune", "--repo", repo, "--grace", "0h")
    assert pruned["swept_marks"]
    assert (
        cli_json(capsys, "backup", "verify", "--repo", repo, "--read-data")["outcome"]["verdict"] == "passed"
    )

    ledger = Ledger(load_config().settings.ledger.path)
    runs = ledger.recent_runs(limit=50, command="backup")
    assert {r.command for r in runs} >= {"backup init", "backup create", "backup restore", "backup prune"}
    assert all(r.outcome == "ok" for r in runs)
    create_run = ledger.get_run(next(r.id for r in runs if r.command == "backup create"))
    assert [s.name for s in create_run.steps] == ["snapshot"] and create_run.steps[0].detail["snapshot"]
    ledger.close()


def test_human_output_and_progress_do_not_break(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path
) -> None:
    repo = str(tmp_path / "repo")
    assert cli(capsys, "backup", "init", "--repo", repo)[0] == 0
    code, out, _err = cli(capsys, "backup", "create", "--repo", repo, "--state-dir", str(agent_state))
    assert code == 0 and "snapshot" in out and "SQLite" in out
    code, out, _err = cli(capsys, "backup", "list", "--repo", repo)
    assert code == 0 and "snapshots in" in out


def test_wrong_passphrase_is_one_line_and_exit_code_14(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = str(tmp_path / "repo")
    cli(capsys, "backup", "init", "--repo", repo)
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", "nope")
    code, out, err = cli(capsys, "backup", "list", "--repo", repo)
    assert code == ExitCode.CREDENTIALS
    assert err.count("\n") == 1 and "wrong passphrase" in err and "nope" not in err + out


def test_damage_makes_verify_exit_1_with_the_damage_in_json(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    cli(capsys, "backup", "init", "--repo", str(repo))
    cli(capsys, "backup", "create", "--repo", str(repo), "--state-dir", str(agent_state))
    pack = max((p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0xFF
    pack.write_bytes(bytes(data))
    code, out, _err = cli(capsys, "backup", "verify", "--repo", str(repo), "--read-data", "--json")
    assert code == ExitCode.FAILED
    report = json.loads(out)
    assert pack.name in report["damaged_packs"] and report["damaged_files"] and report["damaged_snapshots"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "restore", "latest"], "needs --to"),
        (["backup", "restore", "latest", "--in-place", "--to", "/tmp/x"], "exclude each other"),
        (["backup", "verify", "--read-data", "--sample", "10%"], "exclude each other"),
        (["backup", "forget", "--keep-daily", "0"], "keeps nothing"),
    ],
)
def test_contradictory_or_empty_requests_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    repo = str(tmp_path / "repo")
    cli(capsys, "backup", "init", "--repo", repo)
    code, _out, err = cli(capsys, *args, "--repo", repo)
    assert code == ExitCode.USAGE and message in err


def test_in_place_restore_needs_a_typed_confirmation(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path
) -> None:
    repo = str(tmp_path / "repo")
    cli(capsys, "backup", "init", "--repo", repo)
    snap = cli_json(capsys, "backup", "create", "--repo", repo, "--state-dir", str(agent_state))["snapshot"]
    (agent_state / ".env").write_text("CHANGED=1\n")
    code, _out, err = cli(capsys, "backup", "restore", snap[:8], "--repo", repo, "--in-place")
    assert code == ExitCode.USAGE and f"--confirm {snap[:8]}" in err
    code, _out, _err = cli(
        capsys, "backup", "restore", snap[:8], "--repo", repo, "--in-place", "--confirm", "deadbeef"
    )
    assert code == ExitCode.USAGE
    assert (agent_state / ".env").read_text() == "CHANGED=1\n"
    result = cli_json(
        capsys, "backup", "restore", snap[:8], "--repo", repo, "--in-place", "--confirm", snap[:8]
    )
    assert result["safety_snapshot"] and (agent_state / ".env").read_text() == "OPENAI_API_KEY=sk-test\n"


def test_concurrent_backups_into_one_repository_both_succeed(agent_state: Path, tmp_path: Path) -> None:
    """No lock: two processes back up at once (cron overlap), and the repository verifies."""
    repo = str(tmp_path / "repo")
    env = {**os.environ, "CLAWKEEPER_BACKUP_PASSPHRASE": PASSPHRASE}
    base = [sys.executable, "-m", "clawkeeper.cli.main", "backup"]
    subprocess.run([*base, "init", "--repo", repo], env=env, check=True, capture_output=True, timeout=120)
    other = tmp_path / "other"
    other.mkdir()
    (other / "big.bin").write_bytes(os.urandom(3_000_000))
    procs = [
        subprocess.Popen(
            [*base, "create", "--repo", repo, "--json", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["--state-dir", str(agent_state)], [str(other)], ["--state-dir", str(agent_state)])
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out)["snapshot"]
    check = subprocess.run(
        [*base, "verify", "--repo", repo, "--read-data", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["snapshots"] == 3
