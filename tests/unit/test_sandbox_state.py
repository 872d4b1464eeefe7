"""lab.json, process identity and the gateway token: what lets `lab up` clean up after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox.layout import LabLayout, check_instance_name
from clawkeeper.agent.sandbox.procscan import ProcessRef, start_ticks
from clawkeeper.agent.sandbox.state import (
    InstanceState,
    fingerprint,
    load_state,
    read_or_create_token,
    save_state,
)
from clawkeeper.errors import SandboxError, UsageError


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_state_round_trips_through_an_atomic_private_file(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    state = InstanceState(name="a", version="2026.8.2", port=18996, isolation="namespace", phase="running")
    state = state.with_process("holder", ProcessRef(pid=123, start_ticks=456))
    save_state(path, state)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.to_json() == state.to_json()
    assert loaded.processes["holder"] == ProcessRef(123, 456)
    assert not list(tmp_path.glob(".lab.json.*"))  # no temp file left behind


def test_missing_state_is_none_and_damaged_state_is_a_clear_error(tmp_path: Path) -> None:
    assert load_state(tmp_path / "lab.json") is None
    (tmp_path / "lab.json").write_text("{not json")
    with pytest.raises(SandboxError, match="damaged"):
        load_state(tmp_path / "lab.json")


def test_a_live_process_is_alive_and_a_dead_one_is_stale() -> None:
    child = _sleeper()
    try:
        state = InstanceState(name="a", version="v", port=1, isolation="none")
        state = state.with_process("gateway", ProcessRef.of(child.pid))
        assert set(state.live_processes()) == {"gateway"}
        child.kill()
        child.wait()
        assert state.live_processes() == {}
        assert set(state.stale_processes()) == {"gateway"}
    finally:
        child.kill()
        child.wait()


def test_a_reused_pid_is_not_mistaken_for_our_process() -> None:
    mine = start_ticks(os.getpid())
    assert mine is not None
    assert ProcessRef(os.getpid(), mine).alive()
    # same PID, other start time: a different process that inherited the number
    assert not ProcessRef(os.getpid(), mine + 1).alive()


def test_token_is_private_and_only_its_fingerprint_is_shown(tmp_path: Path) -> None:
    token_file = tmp_path / "gateway.token"
    token = read_or_create_token(token_file)
    assert len(token) >= 32
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert read_or_create_token(token_file) == token  # stable across calls
    shown = fingerprint(token)
    assert shown.startswith("sha256:") and token not in shown
    state = InstanceState(name="a", version="v", port=1, isolation="none", token_fingerprint=shown)
    assert token not in str(state.to_json())


@pytest.mark.parametrize("name", ["default", "t-123", "a_b", "x" * 48])
def test_plain_instance_names_are_accepted(name: str) -> None:
    assert check_instance_name(name) == name


@pytest.mark.parametrize("name", ["", "../etc", "Upper", "-dash", "a/b", "x" * 49, ".hidden"])
def test_instance_names_that_could_escape_the_lab_are_refused(name: str) -> None:
    with pytest.raises(UsageError):
        check_instance_name(name)


def test_layout_keeps_everything_of_an_instance_under_its_directory(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path)
    inst = layout.instance("one")
    for path in (inst.home, inst.state_dir, inst.config_path, inst.tmp, inst.logs, inst.state_file):
        assert inst.root in path.parents
    assert inst.state_dir == inst.home / ".openclaw"
    assert layout.instance_lock("one").parent == layout.instances  # survives removing the instance
    assert layout.runtime_dir("2026.8.2").name == "openclaw-2026.8.2"
