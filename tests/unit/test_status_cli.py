"""`clawkeeper status` and `init` as a user runs them, against a fake OpenClaw replaying real outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.errors import ExitCode
from tests.support.httpserver import Routes, serve
from tests.support.openclaw_fake import VERSIONS, FakeInstall, gateway_routes


@pytest.fixture(params=VERSIONS)
def install(request: pytest.FixtureRequest, tmp_path: Path) -> FakeInstall:
    return FakeInstall(tmp_path, request.param).build()


def cli(install: FakeInstall, *args: str, gateway: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **install.env(),
        "PATH": f"{install.prefix / 'bin'}{os.pathsep}{install.env()['PATH']}",
        "FAKE_OPENCLAW_SCENARIO": str(install.scenario_path),
        "CLAWKEEPER_AGENT__OPENCLAW__GATEWAY_URL": gateway,
        "CLAWKEEPER_LEDGER__PATH": str(cwd / "ledger.sqlite"),
        "CLAWKEEPER_LAB__ROOT": str(cwd / "lab"),
    }
    return subprocess.run(
        [sys.executable, "-m", "clawkeeper.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def gateway(install: FakeInstall) -> Iterator[str]:
    with serve(gateway_routes(install.version)) as url:
        yield url


def test_status_json_reports_versions_health_and_findings(
    install: FakeInstall, gateway: str, tmp_path: Path
) -> None:
    result = cli(install, "status", "--json", "--offline", gateway=gateway, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "status"
    assert doc["target"] == "live"
    assert doc["cli_version"] == install.version
    assert doc["running_version"] == install.version
    assert doc["install_kind"] == "npm-global"
    assert doc["live"] is True and doc["ready"] is True
    assert doc["busy"] is False
    # a loopback install with a plaintext token always has these two doctor warnings
    assert doc["findings"].get("warning", 0) >= 2
    assert doc["releases"] is None  # --offline


def test_status_when_gateway_is_down_exits_5_with_one_line(install: FakeInstall, tmp_path: Path) -> None:
    install.set_phase("down")
    with serve(Routes()) as dead_routes:  # answers 404 to every probe: not live
        result = cli(install, "status", "--offline", "--no-gates", gateway=dead_routes, cwd=tmp_path)
    assert result.returncode == ExitCode.AGENT_UNAVAILABLE
    assert "live / ready" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("clawkeeper: gateway of live is down")
    assert "Traceback" not in result.stderr


def test_status_is_recorded_in_history(install: FakeInstall, gateway: str, tmp_path: Path) -> None:
    cli(install, "status", "--json", "--offline", "--no-gates", gateway=gateway, cwd=tmp_path)
    result = cli(install, "history", "--json", gateway=gateway, cwd=tmp_path)
    runs = json.loads(result.stdout)["runs"]
    assert runs[0]["command"] == "status"
    assert runs[0]["target"] == "live"
    assert runs[0]["outcome"] == "ok"


def test_init_writes_a_config_pinning_the_discovered_install(
    install: FakeInstall, gateway: str, tmp_path: Path
) -> None:
    out = tmp_path / "written.toml"
    dry = cli(install, "init", "--output", str(out), "--dry-run", gateway=gateway, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "would write" in dry.stdout and not out.exists()
    result = cli(install, "init", "--output", str(out), gateway=gateway, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(out.read_text())
    assert data["agent"]["target"] == "live"
    assert Path(data["agent"]["openclaw"]["binary"]) == install.binary
    assert (out.stat().st_mode & 0o777) == 0o600
    again = cli(install, "init", "--output", str(out), gateway=gateway, cwd=tmp_path)
    assert again.returncode == ExitCode.CONFLICT
    assert "--force" in again.stderr
