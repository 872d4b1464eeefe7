"""`clawkeeper backup create` as a scheduler runs it: a short-lived process that should load only
what it uses, unlock a passphrase beside its other start-up work, and still record every failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.cli.main import main_exit_code
from clawkeeper.config import load_config
from clawkeeper.errors import ExitCode
from clawkeeper.ledger import Ledger

from .conftest import PASSPHRASE

PROBE = """
import json, sys
from clawkeeper.cli.main import main_exit_code
code = main_exit_code(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "rich", "pydantic_core"})
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def run_probe(*args: str) -> tuple[dict[str, object], str]:
    env = {**os.environ, "CLAWKEEPER_BACKUP_PASSPHRASE": PASSPHRASE}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report: dict[str, object] = json.loads(done.stderr.strip().splitlines()[-1])
    return report, done.stdout


def test_a_repeated_backup_loads_neither_pydantic_nor_rich_and_prints_plain_lines(
    agent_state: Path, tmp_path: Path
) -> None:
    repo = str(tmp_path / "repo")
    report, _out = run_probe("backup", "init", "--repo", repo)
    assert report["code"] == 0
    report, out = run_probe("backup", "create", "--repo", repo, "--state-dir", str(agent_state))
    assert report == {"code": 0, "loaded": []}
    first = out.splitlines()[0]
    assert first.startswith("snapshot ") and "[bold]" not in first and "\x1b" not in out
    report, out = run_probe("backup", "create", "--repo", repo, "--state-dir", str(agent_state), "--json")
    assert report == {"code": 0, "loaded": []}
    assert json.loads(out)["stats"]["files_read"] <= 1  # only what reading a database touched


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main_exit_code(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_wrong_or_missing_repository_fails_in_one_line_and_is_recorded(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = str(tmp_path / "repo")
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", PASSPHRASE)
    assert cli(capsys, "backup", "init", "--repo", repo)[0] == 0
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", "not it")
    code, out, err = cli(capsys, "backup", "create", "--repo", repo, "--state-dir", str(agent_state))
    assert code == ExitCode.CREDENTIALS
    assert err.count("\n") == 1 and "wrong passphrase" in err and "not it" not in err + out
    code, _out, err = cli(capsys, "backup", "create", "--repo", str(tmp_path / "none"), "--state-dir", "x")
    assert code == ExitCode.NOT_FOUND and "no backup repository at" in err
    monkeypatch.delenv("CLAWKEEPER_BACKUP_PASSPHRASE")
    code, _out, err = cli(capsys, "backup", "create", "--state-dir", str(agent_state))
    assert code == ExitCode.USAGE and "no backup repository given" in err
    with Ledger(load_config().settings.ledger.path) as ledger:
        runs = ledger.recent_runs(command="backup create")
    assert [(r.outcome, r.exit_code) for r in runs] == [
        ("error", ExitCode.USAGE),
        ("error", ExitCode.NOT_FOUND),
        ("error", ExitCode.CREDENTIALS),
    ]


def test_a_key_file_others_can_read_is_warned_about_and_still_used(
    capsys: pytest.CaptureFixture[str], agent_state: Path, tmp_path: Path
) -> None:
    repo, key = str(tmp_path / "repo"), tmp_path / "backup.key"
    assert cli(capsys, "backup", "init", "--repo", repo, "--key-file", str(key))[0] == 0
    key.chmod(0o644)
    code, out, err = cli(
        capsys, "backup", "create", "--repo", repo, "--key-file", str(key), "--state-dir", str(agent_state)
    )
    assert code == 0 and out.startswith("snapshot ")
    assert f"warning: {key} is readable by other users" in " ".join(err.split())  # rich may wrap it
