"""`clawkeeper status` against real OpenClaw 2026.8.2 and 2026.9.6: healthy, down, broken config."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.lab.conftest import LabInstance, LabPool
from tests.lab.test_lab import cli

from clawkeeper.agent.sandbox import Sandbox
from clawkeeper.effects import proc
from clawkeeper.errors import ExitCode

pytestmark = pytest.mark.lab


def status_json(target: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = cli("status", "--json", "--target", target, *extra, timeout=300)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_status_reports_version_ready_and_releases(lab_instance: LabInstance) -> None:
    code, doc, stderr = status_json(f"lab:{lab_instance.name}")
    assert code == 0, stderr
    assert doc["target"] == f"lab:{lab_instance.name}"
    assert doc["cli_version"] == lab_instance.version
    assert doc["running_version"] == lab_instance.version
    assert doc["install_kind"] == "npm-global"
    assert doc["live"] is True and doc["ready"] is True
    assert doc["health"]["failing"] == []
    assert doc["busy"] is False, doc["busy_state"]
    # a fresh loopback install: the two standing doctor warnings, no errors; the config is valid
    assert doc["findings"].get("error", 0) == 0 and doc["findings"].get("warning", 0) >= 2
    gates = {g["name"]: g["outcome"]["verdict"] for g in doc["gates"]}
    assert set(gates.values()) == {"passed"}
    # releases come from the real npm registry; the lab's Node (24.x) runs the newest stable
    releases = doc["releases"]
    assert releases["error"] is None
    assert releases["channels"]["stable"]["version"]
    assert releases["node_version"].startswith("24.")
    assert releases["newest_for_node"] is not None
    # the status run itself is in the ledger
    history = json.loads(cli("history", "--json").stdout)["runs"]
    assert history[0]["command"] == "status" and history[0]["target"] == f"lab:{lab_instance.name}"


@pytest.fixture
def own_instance(lab_pool: LabPool) -> Iterator[Sandbox]:
    """A 2026.8.2 instance this test may break."""
    with lab_pool.private("2026.8.2", "status-faults", 18980) as sandbox:
        yield sandbox


def test_status_of_a_stopped_gateway_and_a_broken_config(own_instance: Sandbox) -> None:
    target = f"lab:{own_instance.name}"
    config = own_instance.instance.config_path
    original = config.read_text()

    # 1. a broken JSON5 config: the gateway keeps serving, status names the file and the problem
    config.write_text(original.rstrip().rstrip("}") + ',\n  "gateway": {{\n}\n')
    code, doc, _ = status_json(target, "--offline")
    gates = {g["name"]: g for g in doc["gates"]}
    validate = next(g for name, g in gates.items() if "config validate" in name)
    assert validate["outcome"]["verdict"] == "failed"
    assert any(str(config) in note for note in doc["discovery"]["notes"]), doc["discovery"]["notes"]
    config.write_text(original)

    # 2. the gateway process dies: status says down, exit 5, one line on stderr
    gateway_pid = int(own_instance.status().processes["gateway"]["pid"])
    os.kill(gateway_pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while proc.pid_alive(gateway_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    result = cli("status", "--target", target, "--offline", "--no-gates", timeout=300)
    assert result.returncode == ExitCode.AGENT_UNAVAILABLE, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"clawkeeper: gateway of {target} is down")
    assert "Traceback" not in result.stderr

    # 3. `lab up` repairs it
    again = own_instance.up()
    assert not again.already_running
    code, doc, stderr = status_json(target, "--offline", "--no-gates")
    assert code == 0 and doc["ready"] is True, stderr
