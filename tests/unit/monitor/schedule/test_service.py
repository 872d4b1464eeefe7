"""`clawkeeper service`: the unit file byte for byte, and the commands against a fake systemctl."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from clawkeeper.cli import lazy
from clawkeeper.cli.main import main_exit_code
from clawkeeper.monitor import service

EXPECTED_UNIT = """\
# Written by `clawkeeper service install`; `clawkeeper service install --force` rewrites it.
[Unit]
Description=clawkeeper keeper: monitoring, alerts and scheduled maintenance of the agent

[Service]
Type=simple
ExecStart=/opt/ck/venv/bin/python -m clawkeeper --config /etc/ck/clawkeeper.toml up --no-live-view
Restart=on-failure
RestartSec=10s
# SIGTERM to the keeper only: it lets running jobs finish, then stops them itself
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=90s
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "{log}"
case "$2" in
  is-enabled) echo {enabled}; exit 1;;
  is-active) echo {active}; exit 3;;
  daemon-reload) exit {reload_code};;
esac
exit 0
"""


def test_the_unit_is_exactly_this() -> None:
    argv = service.exec_argv(Path("/etc/ck/clawkeeper.toml"), python="/opt/ck/venv/bin/python")
    assert service.render_unit(argv, drain_grace_s=60.0) == EXPECTED_UNIT


def test_the_unit_uses_this_interpreter_unresolved_and_no_config_when_none() -> None:
    argv = service.exec_argv(None)
    assert argv == [sys.executable, "-m", "clawkeeper", "up", "--no-live-view"]


def test_stop_timeout_leaves_room_for_the_drain() -> None:
    assert "TimeoutStopSec=331s" in service.render_unit(["x"], drain_grace_s=300.5)


@pytest.mark.parametrize(
    ("arg", "quoted"),
    [
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("/home/ann/My Stuff/ck.toml", '"/home/ann/My Stuff/ck.toml"'),
        ("/srv/100%/ck.toml", "/srv/100%%/ck.toml"),
        ("/srv/$HOME/x", "/srv/$$HOME/x"),
        ('/a"b', '"/a\\"b"'),
    ],
)
def test_exec_start_arguments_are_quoted_for_systemd(arg: str, quoted: str) -> None:
    assert service.systemd_quote(arg) == quoted


def test_the_unit_dir_honours_xdg_config_home(tmp_path: Path) -> None:
    assert (
        service.unit_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "systemd/user/clawkeeper.service"
    )
    assert (
        service.unit_path({"XDG_CONFIG_HOME": ""}) == Path.home() / ".config/systemd/user/clawkeeper.service"
    )


# --- the commands ----------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setitem(lazy.LAZY, "service", "clawkeeper.cli.service_cmd:app")
    config = tmp_path / "clawkeeper.toml"
    config.write_text(f'[ledger]\npath = "{tmp_path / "ledger.sqlite"}"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    return {"config": config, "bin": bin_dir, "log": tmp_path / "systemctl.log", "unit": service.unit_path()}


def fake_systemctl(
    cli: dict[str, Path], *, enabled: str = "disabled", active: str = "inactive", reload_code: int = 0
) -> None:
    script = cli["bin"] / "systemctl"
    script.write_text(
        FAKE_SYSTEMCTL.format(log=cli["log"], enabled=enabled, active=active, reload_code=reload_code)
    )
    script.chmod(0o755)


def calls(cli: dict[str, Path]) -> list[str]:
    return cli["log"].read_text().splitlines() if cli["log"].exists() else []


def ck(cli: dict[str, Path], *args: str) -> int:
    return main_exit_code(["--config", str(cli["config"]), "service", *args])


def test_install_writes_the_unit_0644_and_reloads_systemd(
    cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_systemctl(cli)
    assert ck(cli, "install") == 0
    unit = cli["unit"]
    text = unit.read_text()
    assert f"--config {cli['config']} up --no-live-view" in text
    assert text == service.render_unit(service.exec_argv(cli["config"]), drain_grace_s=60.0)
    assert unit.stat().st_mode & 0o777 == 0o644
    assert calls(cli) == ["--user daemon-reload"]
    out = capsys.readouterr().out
    assert "systemctl --user enable --now clawkeeper.service" in out
    assert "loginctl enable-linger" in out


def test_dry_run_prints_the_unit_and_writes_nothing(
    cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_systemctl(cli)
    assert ck(cli, "install", "--dry-run") == 0
    assert not cli["unit"].exists() and calls(cli) == []
    out = capsys.readouterr().out
    assert "would create" in out and "ExecStart=" in out and "KillMode=mixed" in out


def test_a_different_unit_is_not_replaced_without_force(
    cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_systemctl(cli)
    cli["unit"].parent.mkdir(parents=True)
    cli["unit"].write_text("[Service]\nExecStart=/usr/bin/something-else\n")
    assert ck(cli, "install") == 8
    assert "differs from the unit clawkeeper would write" in capsys.readouterr().err
    assert cli["unit"].read_text() == "[Service]\nExecStart=/usr/bin/something-else\n"
    assert ck(cli, "install", "--dry-run") == 0
    assert "-ExecStart=/usr/bin/something-else" in capsys.readouterr().out
    assert ck(cli, "install", "--force") == 0
    assert cli["unit"].read_text().startswith(service.MARKER)
    assert ck(cli, "install") == 0  # the same unit again: unchanged, no reload
    assert calls(cli) == ["--user daemon-reload"]


def test_without_systemctl_install_still_writes_and_says_how_to_reload(
    cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ck(cli, "install") == 0
    assert cli["unit"].exists()
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "could not reload systemd (systemctl not found); run `systemctl --user daemon-reload`" in out


def test_a_failing_daemon_reload_is_reported_not_fatal(cli: dict[str, Path]) -> None:
    fake_systemctl(cli, reload_code=1)
    assert main_exit_code(["--config", str(cli["config"]), "service", "install", "--json"]) == 0
    assert cli["unit"].exists()


def test_status_reports_installed_current_enabled_active(
    cli: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_systemctl(cli, enabled="enabled", active="active")
    assert ck(cli, "status", "--json") == 0
    before = json.loads(capsys.readouterr().out)
    assert (before["installed"], before["enabled"], before["active"]) == (False, None, None)
    assert ck(cli, "install") == 0
    capsys.readouterr()
    assert ck(cli, "status", "--json") == 0
    after = json.loads(capsys.readouterr().out)
    assert after["kind"] == "service.status"
    assert (after["installed"], after["current"], after["enabled"], after["active"]) == (
        True,
        True,
        "enabled",
        "active",
    )
    assert calls(cli)[-2:] == ["--user is-enabled clawkeeper.service", "--user is-active clawkeeper.service"]


def test_uninstall_stops_disables_removes_and_reloads(cli: dict[str, Path]) -> None:
    fake_systemctl(cli)
    assert ck(cli, "install") == 0
    assert ck(cli, "uninstall", "--dry-run") == 0
    assert cli["unit"].exists()
    assert ck(cli, "uninstall") == 0
    assert not cli["unit"].exists()
    assert calls(cli) == [
        "--user daemon-reload",
        "--user disable --now clawkeeper.service",
        "--user daemon-reload",
    ]
    assert ck(cli, "uninstall") == 0  # nothing left to do


def test_uninstall_leaves_a_unit_clawkeeper_did_not_write(cli: dict[str, Path]) -> None:
    fake_systemctl(cli)
    cli["unit"].parent.mkdir(parents=True)
    cli["unit"].write_text("[Service]\nExecStart=/usr/bin/mine\n")
    assert ck(cli, "uninstall") == 8
    assert cli["unit"].exists()
    assert ck(cli, "uninstall", "--force") == 0
    assert not cli["unit"].exists()
