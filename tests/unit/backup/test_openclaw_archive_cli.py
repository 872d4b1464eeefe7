"""`backup create --openclaw-archive`, `backup show` and `backup restore --openclaw-archive-only` as a
user runs them, against a fake live OpenClaw replaying the real `backup create` output."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clawkeeper.cli.main import main_exit_code
from clawkeeper.errors import ExitCode
from tests.support.cli import cli, cli_json
from tests.support.openclaw_fake import FakeInstall

from .conftest import PASSPHRASE

VERSION = "2026.9.6"


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeInstall:
    """The fake as the machine's live OpenClaw, a repository, and the passphrase."""
    fake = FakeInstall(tmp_path / "fake", VERSION).build()
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("CLAWKEEPER_AGENT__OPENCLAW__BINARY", str(fake.binary))
    monkeypatch.setenv("CLAWKEEPER_BACKUP__REPO", str(tmp_path / "repo"))
    monkeypatch.setenv("CLAWKEEPER_BACKUP__SCRATCH_DIR", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()
    monkeypatch.setenv("HOME", str(fake.home))
    monkeypatch.setenv("FAKE_OPENCLAW_SCENARIO", str(fake.scenario_path))
    for name in ("OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH", "OPENCLAW_HOME", "OPENCLAW_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert main_exit_code(["backup", "init"]) == 0
    return fake



def test_create_show_and_restore_the_archive(
    install: FakeInstall, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    created = cli_json(capsys, "backup", "create", "--target", "live", "--openclaw-archive")
    record = created["meta"]["openclaw_archive"]
    assert record["openclaw_version"] == VERSION
    assert record["path"] == f".openclaw-archive/{record['name']}"
    assert not [w for w in created["warnings"] if "archive" in w] and not created["incomplete"]
    assert list((tmp_path / "scratch").iterdir()) == []  # staging removed

    shown = cli_json(capsys, "backup", "show", "latest")["snapshot"]
    assert shown["openclaw_archive"] == record
    code, out, _err = cli(capsys, "backup", "show", "latest")
    assert code == 0 and record["name"] in out and record["sha256"] in out and f"OpenClaw {VERSION}" in out

    out_dir = tmp_path / "out"
    restored = cli_json(
        capsys, "backup", "restore", "latest", "--openclaw-archive-only", "--to", str(out_dir)
    )
    assert restored["kind"] == "backup.restore.openclaw_archive"
    archive = Path(restored["file"])
    assert archive == out_dir / record["name"]
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == record["sha256"]

    # a whole restore brings the archive along, beside the agent's files
    code, out, _err = cli(capsys, "backup", "restore", "latest", "--to", str(tmp_path / "all"))
    assert code == 0 and (tmp_path / "all" / record["path"]).is_file()
    assert "OpenClaw's own archive ->" in out


def test_by_setting_a_failure_is_a_warning_and_the_snapshot_is_kept(
    install: FakeInstall, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAWKEEPER_BACKUP__OPENCLAW_ARCHIVE", "true")
    install.set_phase("up", **{"backup-create": {"stdout": "Error: disk full\n", "returncode": 1}})
    created = cli_json(capsys, "backup", "create", "--target", "live")
    assert created["snapshot"] and "openclaw_archive" not in created["meta"]
    assert any("OpenClaw's own archive was not stored" in w and "disk full" in w for w in created["warnings"])
    code, _out, err = cli(capsys, "backup", "restore", "latest", "--openclaw-archive-only", "--to", "/tmp/x")
    assert code == ExitCode.NOT_FOUND and "holds no OpenClaw archive" in err
    # --no-openclaw-archive overrides the setting: OpenClaw is not asked at all
    calls = len(install.calls())
    cli_json(capsys, "backup", "create", "--target", "live", "--no-openclaw-archive")
    assert not [c for c in install.calls()[calls:] if c["args"][:2] == ["backup", "create"]]


def test_by_flag_a_failure_fails_the_command_in_one_line_and_stores_nothing(
    install: FakeInstall, capsys: pytest.CaptureFixture[str]
) -> None:
    install.set_phase("refused")
    code, _out, err = cli(capsys, "backup", "create", "--target", "live", "--openclaw-archive")
    assert code == ExitCode.COMMAND_FAILED
    [line] = [x for x in err.splitlines() if x.startswith("clawkeeper: error:")]
    assert "no snapshot was taken" in line and "must not be written inside a source path" in line
    assert cli_json(capsys, "backup", "list")["snapshots"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "create", "--openclaw-archive", "--state-dir", "/tmp/x"], "not given as paths"),
        (["backup", "create", "--openclaw-archive", "/tmp/x"], "not given as paths"),
        (["backup", "restore", "--openclaw-archive-only", "--in-place"], "excludes --in-place"),
        (
            ["backup", "restore", "--openclaw-archive-only", "--to", "/x", "--path", "a"],
            "excludes --in-place",
        ),
    ],
)
def test_contradictory_requests_are_refused_before_any_work(
    install: FakeInstall, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = cli(capsys, *args)
    assert code == ExitCode.USAGE and message in err
    assert not [c for c in install.calls() if c["args"][:2] == ["backup", "create"]]
