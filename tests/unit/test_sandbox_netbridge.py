"""The port bridge's forwarding: bytes both ways, half-close, a bound on connections, exit on cue.

The namespace switch itself (setns) needs privileges and is exercised by the lab tests; here the
forwarder runs in this namespace against a loopback echo server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox.netbridge import bind_listener, main, ns_identity, serve


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def loop() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while chunk := conn.recv(65536):  # until the client half-closes
                    data += chunk
                conn.sendall(data.upper())

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def start_bridge(target_port: int, marker: Path, max_connections: int = 4) -> tuple[int, threading.Thread]:
    listener = bind_listener("127.0.0.1", 0)
    port = listener.getsockname()[1]
    identity = ns_identity(marker)
    assert identity is not None
    thread = threading.Thread(
        target=lambda: asyncio.run(
            serve(
                listener,
                target_port=target_port,
                netns=marker,
                identity=identity,
                max_connections=max_connections,
            )
        ),
        daemon=True,
    )
    thread.start()
    return port, thread


def exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)  # the half-close must reach the server through the bridge
        out = b""
        while chunk := conn.recv(65536):
            out += chunk
    return out


def test_bridge_forwards_both_ways_and_exits_when_the_namespace_goes(tmp_path: Path, echo_port: int) -> None:
    marker = tmp_path / "netns"
    marker.write_text("")
    port, thread = start_bridge(echo_port, marker)
    big = b"x" * 300_000
    assert exchange(port, b"hello lab") == b"HELLO LAB"
    assert exchange(port, big) == big.upper()
    marker.unlink()  # the holder's /proc/<pid>/ns/net disappears when the lab stops
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_nothing_listening_inside_closes_the_client_connection(tmp_path: Path) -> None:
    marker = tmp_path / "netns"
    marker.write_text("")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    port, thread = start_bridge(closed_port, marker)
    assert exchange(port, b"anyone?") == b""
    marker.unlink()
    thread.join(timeout=5)


def test_bridge_refuses_to_start_for_a_missing_holder_or_a_taken_port() -> None:
    assert main(["--port", "1", "--holder", "999999999"]) == 4
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        import os

        assert main(["--port", str(taken.getsockname()[1]), "--holder", str(os.getpid())]) == 3
