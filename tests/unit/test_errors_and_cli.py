"""The exit-code contract and the top-level handler: one line, the right code, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.errors import EXIT_CODE_MEANINGS, ClawkeeperError, ExitCode

PINNED = {
    "OK": 0,
    "FAILED": 1,
    "USAGE": 2,
    "CONFIG": 3,
    "AGENT_NOT_FOUND": 4,
    "AGENT_UNAVAILABLE": 5,
    "AGENT_PROTOCOL": 6,
    "ENVIRONMENT": 7,
    "CONFLICT": 8,
    "TIMEOUT": 9,
    "COMMAND_FAILED": 10,
    "LEDGER": 11,
    "SANDBOX": 12,
    "INTEGRITY": 13,
    "CREDENTIALS": 14,
    "NOT_FOUND": 15,
    "INCONCLUSIVE": 20,
    "INTERNAL": 70,
    "INTERRUPTED": 130,
}


def test_exit_codes_never_change_meaning() -> None:
    assert {code.name: int(code) for code in ExitCode} == PINNED
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


def test_every_error_class_has_a_documented_code() -> None:
    def subclasses(cls: type) -> list[type]:
        out = []
        for sub in cls.__subclasses__():
            out += [sub, *subclasses(sub)]
        return out

    for cls in subclasses(ClawkeeperError):
        assert cls.exit_code in EXIT_CODE_MEANINGS, cls


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clawkeeper.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_usage_error_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli("history", "--no-such-flag", cwd=tmp_path)
    assert result.returncode == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "No such option: --no-such-flag" in lines[0]
    assert "Traceback" not in result.stderr


def test_config_error_is_one_line_exit_3(tmp_path: Path) -> None:
    (tmp_path / "clawkeeper.toml").write_text('[lab]\nport = "high"\n')
    result = run_cli("history", cwd=tmp_path)
    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "lab.port = 'high'" in lines[0]
    assert "Traceback" not in result.stderr


def test_history_records_itself_and_lists_json(tmp_path: Path) -> None:
    env = {"CLAWKEEPER_LEDGER__PATH": str(tmp_path / "ledger.sqlite")}
    assert run_cli("history", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("history", "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    doc = json.loads(result.stdout)
    assert doc["kind"] == "history"
    assert doc["schema_version"] == 1
    commands = [r["command"] for r in doc["runs"]]
    # the earlier invocation is recorded as ok; the current one leaves itself out
    assert commands == ["history"]
    assert doc["runs"][0]["outcome"] == "ok"
    assert doc["runs"][0]["exit_code"] == 0


def test_unknown_run_id_exit_15(tmp_path: Path) -> None:
    env = {"CLAWKEEPER_LEDGER__PATH": str(tmp_path / "ledger.sqlite")}
    result = run_cli("history", "--run", "999", env=env, cwd=tmp_path)
    assert result.returncode == ExitCode.NOT_FOUND
    assert "no run 999" in result.stderr


@pytest.mark.parametrize("args", [["--help"], ["history", "--help"], ["lab", "--help"]])
def test_help_works(args: list[str], tmp_path: Path) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0
    assert "Usage:" in result.stdout
