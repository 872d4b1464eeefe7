"""The lab against real OpenClaw 2026.8.2 and 2026.9.6: the CLI, isolation, faults, cleanup."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.lab.conftest import CONFIG, REPO, LabInstance, instance_name, pick_port

from clawkeeper.agent.sandbox.layout import LabLayout
from clawkeeper.agent.sandbox.procscan import MARKER_ENV, all_pids, environ
from clawkeeper.config import LabSettings
from clawkeeper.effects import http, proc
from clawkeeper.errors import ExitCode

pytestmark = pytest.mark.lab

RANGE_8_2 = ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "CLAWKEEPER_CONFIG": str(CONFIG), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "clawkeeper.cli.main", *args],
        capture_output=True, text=True, env=full_env, cwd=REPO, timeout=timeout, check=False,
    )  # fmt: skip


def cli_json(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = cli(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def processes_of(instance_dir: Path) -> list[int]:
    """Every process on this machine tied to the instance: its marker or its HOME, straight from /proc."""
    home = str(instance_dir / "home")
    found = []
    for pid in all_pids():
        env = environ(pid)
        if env and (env.get(MARKER_ENV) == str(instance_dir) or env.get("HOME") == home):
            found.append(pid)
    return found


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def name(request: pytest.FixtureRequest, lab_settings: LabSettings) -> Any:
    """A fresh instance name for one CLI test; whatever the test leaves is destroyed after it."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    value = f"{instance_name('cli')}-{test[-24:].strip('-')}"
    yield value
    instances = LabLayout(lab_settings.root).instances
    if (instances / value).exists():
        result = cli("lab", "destroy", "--name", value, "--yes")
        assert result.returncode == 0, result.stderr
    (instances / f".{value}.lock").unlink(missing_ok=True)


def test_cli_up_status_down_leaves_no_process(name: str, lab_settings: LabSettings) -> None:
    port = pick_port(18990)
    up = cli_json("lab", "up", "--version", "2026.8.2", "--name", name, "--port", str(port))
    assert up["kind"] == "lab.up" and up["version"] == "2026.8.2" and not up["already_running"]

    status = cli_json("lab", "status", "--name", name)
    assert status["version"] == "2026.8.2"
    assert status["ready"] is True and status["running"] is True
    assert status["isolation"] == "namespace"
    assert status["http_base"] == f"http://127.0.0.1:{port}"
    pids = {role: info["pid"] for role, info in status["processes"].items()}
    assert {"holder", "bridge", "gateway"} <= set(pids)
    assert Path(f"/proc/{pids['gateway']}/comm").read_text().strip() == "openclaw-gatewa"

    # the gateway answers from the host through the bridge
    health = http.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert isinstance(health, http.HttpResponse) and health.json() == {"ok": True, "status": "live"}

    again = cli_json("lab", "up", "--name", name)
    assert again["already_running"] is True

    instance_dir = LabLayout(lab_settings.root).instances / name
    assert processes_of(instance_dir)
    down = cli_json("lab", "down", "--name", name)
    assert {"gateway", "holder"} <= {s["role"] for s in down["stopped"]}
    assert processes_of(instance_dir) == []
    assert not any(proc.pid_alive(pid) for pid in pids.values())
    assert cli_json("lab", "status", "--name", name)["running"] is False


def test_port_in_use_is_exit_8_and_one_line(name: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli("lab", "up", "--version", "2026.8.2", "--name", name, "--port", str(port))
    assert result.returncode == ExitCode.CONFLICT
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port} is in use by pid {os.getpid()}" in lines[0] and "--port" in lines[0]
    assert result.stdout == ""


def test_node_too_old_is_exit_7_and_names_the_range(
    name: str, tmp_path: Path, lab_settings: LabSettings
) -> None:
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho v20.0.0\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    result = cli(
        "lab", "up", "--version", "2026.8.2", "--name", name, "--port", str(pick_port(18990)),
        env={"CLAWKEEPER_LAB__NODE": str(node)},
    )  # fmt: skip
    assert result.returncode == ExitCode.ENVIRONMENT, result.stderr
    error = result.stderr.strip().splitlines()[-1]  # earlier lines, if any, are finished phases
    assert error.startswith("clawkeeper: error: OpenClaw 2026.8.2 needs Node")
    assert f"needs Node {RANGE_8_2}" in error and "v20.0.0" in error and "lab.node" in error
    assert not (LabLayout(lab_settings.root).instances / name / "home").exists()  # nothing was set up


def test_unknown_version_lists_versions_nearby(name: str) -> None:
    result = cli("lab", "up", "--version", "2026.8.99", "--name", name, "--port", str(pick_port(18990)))
    assert result.returncode == ExitCode.NOT_FOUND, result.stderr
    assert "openclaw@2026.8.99 does not exist" in result.stderr
    assert "versions nearby:" in result.stderr and "2026.8.2" in result.stderr


@pytest.mark.parametrize("kill_during", ["onboard", "start"])
def test_killed_up_is_repaired_by_the_next_up_without_orphans(
    name: str, lab_settings: LabSettings, kill_during: str
) -> None:
    port = pick_port(18990)
    instance_dir = LabLayout(lab_settings.root).instances / name
    state_file = instance_dir / "lab.json"

    def reached() -> bool:
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return False
        if kill_during == "onboard":  # namespaces exist, onboarding runs
            return state["phase"] == "created" and "holder" in state["processes"]
        return "gateway_wrapper" in state["processes"]  # gateway spawned, not ready yet

    env = {**os.environ, "CLAWKEEPER_CONFIG": str(CONFIG)}
    first = subprocess.Popen(
        [sys.executable, "-m", "clawkeeper.cli.main", "lab", "up", "--version", "2026.8.2", "--name", name,
         "--port", str(port)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(reached, 120, f"`lab up` to reach {kill_during}")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    orphans = processes_of(instance_dir)
    assert orphans, "the killed run should have left processes behind for this test to mean anything"

    again = cli_json("lab", "up", "--name", name)
    assert again["already_running"] is False
    assert "cleaned up processes of an earlier, unfinished run" in again["notes"]
    assert not any(proc.pid_alive(pid) for pid in orphans)
    status = cli_json("lab", "status", "--name", name)
    assert status["ready"] is True and status["stale"] == []
    assert set(processes_of(instance_dir)) >= {info["pid"] for info in status["processes"].values()}

    cli_json("lab", "down", "--name", name)
    assert processes_of(instance_dir) == []


def test_destroy_dry_run_then_destroy(name: str, lab_settings: LabSettings) -> None:
    cli_json("lab", "up", "--version", "2026.8.2", "--name", name, "--port", str(pick_port(18990)))
    instance_dir = LabLayout(lab_settings.root).instances / name
    dry = cli_json("lab", "destroy", "--name", name, "--dry-run")
    assert dry["dry_run"] and all(action.startswith("would ") for action in dry["actions"])
    assert instance_dir.exists() and processes_of(instance_dir)
    refused = cli("lab", "destroy", "--name", name)  # no --yes and no terminal to confirm on
    assert refused.returncode == ExitCode.USAGE and instance_dir.exists()
    done = cli_json("lab", "destroy", "--name", name, "--yes")
    assert not done["dry_run"] and not instance_dir.exists()
    assert processes_of(instance_dir) == []
    assert (LabLayout(lab_settings.root).runtime_dir("2026.8.2") / "bin" / "openclaw").exists()


# -- the shared fixture, both versions -------------------------------------------------------------


def test_instance_is_ready_isolated_and_reachable(lab_instance: LabInstance) -> None:
    status = lab_instance.sandbox.status()
    assert status.ready and status.version == lab_instance.version
    target = lab_instance.target
    assert target.label == f"lab:{lab_instance.name}" and target.isolation == "namespace"
    assert target.http_base == f"http://127.0.0.1:{lab_instance.port}"

    version = proc.run(target.argv("--version"), timeout=60, env=target.process_env())
    assert version.stdout.startswith(f"OpenClaw {lab_instance.version}")
    _, health = proc.run_json(target.argv("health", "--json"), timeout=120, env=target.process_env())
    assert health["ok"] is True

    # inside, the only network interface is loopback, and /tmp is the instance's own
    links = proc.run([*target.exec_prefix, "cat", "/proc/net/dev"], timeout=10, env=target.process_env())
    assert [line.split(":")[0].strip() for line in links.stdout.splitlines()[2:]] == ["lo"]
    marker = lab_instance.sandbox.instance.tmp / "clawkeeper-lab-probe"
    marker.write_text("x")
    try:
        seen = proc.run([*target.exec_prefix, "cat", "/tmp/clawkeeper-lab-probe"], timeout=10)
        assert seen.stdout == "x"
        assert not Path("/tmp/clawkeeper-lab-probe").exists()
    finally:
        marker.unlink()


def test_instance_state_is_private_and_quiet(lab_instance: LabInstance) -> None:
    inst = lab_instance.sandbox.instance
    config = json.loads(inst.config_path.read_text())
    assert config["logging"]["file"] == str(inst.openclaw_log)
    assert config["update"]["checkOnStart"] is False
    assert config["telemetry"]["enabled"] is False
    assert config["gateway"]["bind"] == "loopback" and config["gateway"]["port"] == lab_instance.port
    token = inst.token_file.read_text().strip()
    assert stat.S_IMODE(inst.token_file.stat().st_mode) == 0o600
    assert token not in inst.state_file.read_text()
    assert stat.S_IMODE(inst.state_dir.stat().st_mode) == 0o700
    gateway_pid = lab_instance.sandbox.status().processes["gateway"]["pid"]
    env = environ(gateway_pid) or {}
    assert env.get("HOME") == str(inst.home)
    for name in ("OPENCLAW_NO_AUTO_UPDATE", "DO_NOT_TRACK", "OPENCLAW_DISABLE_BONJOUR", "OPENCLAW_OFFLINE"):
        assert env.get(name) == "1"
