"""A taken port is found before anything is installed, and the error names who holds it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox import Sandbox
from clawkeeper.agent.sandbox.procscan import parse_listeners, port_is_free, port_owners
from clawkeeper.config import LabSettings, ReleasesSettings
from clawkeeper.errors import ExitCode, ResourceConflict


@pytest.fixture
def listening() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_listening_socket_makes_the_port_busy_and_names_this_process(listening: int) -> None:
    assert not port_is_free(listening)
    owners = port_owners(listening)
    assert any(owner.pid == os.getpid() for owner in owners)


def test_a_closed_port_is_free() -> None:
    assert port_is_free(_free_port())


def test_parse_listeners_only_takes_listen_rows_of_that_port() -> None:
    rows = [
        # sl local_address rem_address st ... inode (index 9)
        "0: 0100007F:4A44 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1111 1",
        "1: 0100007F:4A44 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 0 0 2222 1",  # ESTABLISHED
        "2: 00000000:4A45 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 3333 1",
    ]
    assert parse_listeners(rows, 0x4A44) == {1111}
    assert parse_listeners(rows, 0x4A45) == {3333}
    assert parse_listeners(rows, 1) == set()


def test_lab_up_refuses_a_taken_port_before_touching_the_registry(tmp_path: Path, listening: int) -> None:
    # The registry URL points at a closed port: reaching it would raise EnvironmentProblem instead.
    releases = ReleasesSettings(registry=f"http://127.0.0.1:{_free_port()}", timeout=1)
    sandbox = Sandbox(LabSettings(root=tmp_path), name="t", releases=releases)
    with pytest.raises(ResourceConflict) as caught:
        sandbox.up(version="2026.8.2", port=listening, isolation="none")
    assert caught.value.exit_code == ExitCode.CONFLICT
    line = caught.value.one_line()
    assert f"port {listening} is in use by pid {os.getpid()}" in line
    assert "--port" in line
    assert not (tmp_path / "runtimes").exists()
