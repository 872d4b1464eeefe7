"""Waiting for a gateway that is restarting, without waiting for one that is gone."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.outcomes import Verdict
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.suites import SuiteLibrary
from clawkeeper.probes.verification import VerifyRequest, verify
from tests.unit.probes.conftest import FakeOpenClaw


@pytest.fixture
def restarting_gateway() -> Iterator[tuple[str, list[int]]]:
    """/readyz answers 503 (starting) for the first two requests, then 200."""
    seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(1)
            ready = len(seen) > 2
            body = json.dumps({"ready": ready, "uptimeMs": 10 * len(seen)}).encode()
            self.send_response(200 if ready else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_starting_gateway_is_waited_for(restarting_gateway: tuple[str, list[int]]) -> None:
    base, seen = restarting_gateway
    slept: list[float] = []
    state = ProbeEnv(http_base=base, sleep=slept.append, ready_wait_s=30).wait_ready()
    assert state.ready and len(seen) == 3 and slept == [1.0, 1.0]


def test_a_gateway_that_is_gone_is_not_waited_for_long() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens here
    slept: list[float] = []
    env = ProbeEnv(
        http_base=f"http://127.0.0.1:{port}", sleep=slept.append, ready_wait_s=60, refused_grace_s=3
    )
    state = env.wait_ready()
    assert not state.ready and state.status is None and sum(slept) == 3.0


def test_the_probe_models_port_in_use_makes_agent_probes_inconclusive(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        request = VerifyRequest(
            suite=SuiteLibrary().get("regression"),
            target=fake_openclaw.target,
            target_label="lab:fake",
            sandbox=True,
            settings=fake_openclaw.settings(tmp_path, model_port=port),
            only=("agent-turn", "config"),
            sleep=lambda _s: None,
        )
        report = verify(request)
    assert report.probe("config").verdict is Verdict.PASSED
    turn = report.probe("agent-turn")
    assert turn.verdict is Verdict.INCONCLUSIVE
    assert f"port {port} on 127.0.0.1 is already in use" in turn.reason
    assert report.verdict is Verdict.INCONCLUSIVE
