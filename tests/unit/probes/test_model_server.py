"""The probe model, driven by a real HTTP client the way OpenClaw drives it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clawkeeper.errors import ResourceConflict
from clawkeeper.probes import script
from clawkeeper.probes.model_log import ModelLog
from clawkeeper.probes.model_runtime import start_model_server
from clawkeeper.probes.model_server import INTERNAL_CONTEXT_MARKER, ProbeModelServer

TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {}}} for n in ("exec", "write", "tool_call")
]
INTERNAL = {
    "role": "user",
    "content": [{"type": "text", "text": f"{INTERNAL_CONTEXT_MARKER} Active exec sessions: none"}],
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ProbeModelServer]:
    with ProbeModelServer(log_path=tmp_path / "requests.jsonl") as running:
        yield running


def post(server: ProbeModelServer, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": "Bearer clawkeeper-probe-local"}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, headers=headers, timeout=10)


def parse_sse(text: str) -> tuple[dict[str, Any], str | None]:
    """Reassemble a streamed answer: (message delta merged, finish_reason)."""
    merged: dict[str, Any] = {"content": "", "tool_calls": []}
    finish = None
    for line in text.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        for choice in chunk["choices"]:
            delta = choice["delta"]
            merged["content"] += delta.get("content") or ""
            merged["tool_calls"].extend(delta.get("tool_calls") or [])
            finish = choice["finish_reason"] or finish
    return merged, finish


def turn(message: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": message},
        INTERNAL,
    ]


def test_a_streamed_turn_calls_the_tool_then_reports_its_result(
    server: ProbeModelServer, tmp_path: Path
) -> None:
    steps = script.Script("NONCE1", calls=(script.ToolStep("exec", {"command": "echo CKT-$((6*7))-NONCE1"}),))
    messages = turn(
        f"[Sun 2026-11-22 03:35 UTC] {steps.render('please run it')}\n\nRuntime: session=agent:p:x"
    )
    body = {
        "model": "probe-1",
        "messages": messages,
        "tools": TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    first = post(server, body)
    assert first.headers["content-type"] == "text/event-stream"
    delta, finish = parse_sse(first.text)
    assert finish == "tool_calls"
    call = delta["tool_calls"][0]
    assert call["function"]["name"] == "exec"
    assert json.loads(call["function"]["arguments"]) == {"command": "echo CKT-$((6*7))-NONCE1"}
    assert '"usage"' in first.text and first.text.rstrip().endswith("data: [DONE]")

    # OpenClaw sends the tool result back and appends its internal-context message again, last.
    follow = [
        *messages[:2],
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "CKT-42-NONCE1"},
        INTERNAL,
    ]
    delta, finish = parse_sse(post(server, {**body, "messages": follow}).text)
    assert finish == "stop" and not delta["tool_calls"]
    assert delta["content"] == "CK-OK NONCE1 :: CKT-42-NONCE1"

    records = ModelLog(tmp_path / "requests.jsonl").for_nonce("NONCE1")
    assert [r["decision"]["kind"] for r in records] == ["tool_call", "reply"]
    assert records[1]["tool_results"] == ["CKT-42-NONCE1"]
    assert records[0]["session"] == "agent:p:x"
    assert records[0]["authorization"] == "present"
    assert "clawkeeper-probe-local" not in (tmp_path / "requests.jsonl").read_text()


def test_plain_json_answer_when_not_streaming(server: ProbeModelServer) -> None:
    body = {
        "model": "probe-1",
        "messages": turn(script.Script("NONCE2", say="CK-OK {nonce} turn").render()),
        "tools": TOOLS,
        "stream": False,
    }
    answer = post(server, body).json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "CK-OK NONCE2 turn"
    assert answer["choices"][0]["finish_reason"] == "stop"


def test_unmarked_requests_never_get_a_tool_call(server: ProbeModelServer) -> None:
    """Heartbeats and background reviews reach the probe model too; they must not start loops."""
    body = {"model": "probe-1", "messages": turn("Read HEARTBEAT.md and act on it"), "tools": TOOLS}
    message = post(server, body).json()["choices"][0]["message"]
    assert "tool_calls" not in message and message["content"].startswith("CK-IDLE")


def test_a_tool_listed_only_by_name_goes_through_the_bridge(server: ProbeModelServer) -> None:
    steps = script.Script("NONCE3", calls=(script.ToolStep("memory_search", {"query": "anchor"}),))
    body = {"model": "probe-1", "messages": turn(steps.render()), "tools": TOOLS}
    call = post(server, body).json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "tool_call"
    assert json.loads(call["function"]["arguments"]) == {"id": "memory_search", "args": {"query": "anchor"}}


def test_a_tool_that_is_not_offered_ends_the_turn_with_the_reason(server: ProbeModelServer) -> None:
    steps = script.Script("NONCE4", calls=(script.ToolStep("exec", {"command": "true"}),))
    tools = [{"type": "function", "function": {"name": "read"}}]
    body = {"model": "probe-1", "messages": turn(steps.render()), "tools": tools}
    message = post(server, body).json()["choices"][0]["message"]
    assert message["content"] == "CK-ERROR NONCE4 tool exec not offered (offered: read)"


def test_calls_per_turn_are_capped(tmp_path: Path) -> None:
    steps = script.Script(
        "NONCE5", calls=tuple(script.ToolStep("exec", {"command": f"echo {i}"}) for i in range(5))
    )
    with ProbeModelServer(max_calls=2) as server:
        messages = turn(steps.render())
        calls = 0
        for _ in range(5):
            message = post(server, {"model": "probe-1", "messages": messages, "tools": TOOLS}).json()
            message = message["choices"][0]["message"]
            if not message.get("tool_calls"):
                break
            calls += 1
            messages = [*messages[:-1], message, {"role": "tool", "content": "x"}, INTERNAL]
        assert calls == 2


def test_the_request_budget_stops_tool_calls(tmp_path: Path) -> None:
    steps = script.Script("NONCE6", calls=(script.ToolStep("exec", {"command": "true"}),))
    with ProbeModelServer(max_requests=1) as server:
        body = {"model": "probe-1", "messages": turn(steps.render()), "tools": TOOLS}
        assert post(server, body).json()["choices"][0]["message"].get("tool_calls")
        assert not post(server, body).json()["choices"][0]["message"].get("tool_calls")


def test_models_endpoint_lists_the_probe_model(server: ProbeModelServer) -> None:
    listing = httpx.get(f"{server.base_url}/models", timeout=5).json()
    assert [m["id"] for m in listing["data"]] == ["probe-1"]


def test_the_server_process_prints_ready_then_records_requests(tmp_path: Path) -> None:
    running = start_model_server(tmp_path / "run")
    try:
        body = {
            "model": "probe-1",
            "messages": turn(script.Script("NONCE7", say="hi {nonce}").render()),
            "tools": TOOLS,
        }
        reply = httpx.post(f"{running.base_url}/chat/completions", json=body, timeout=10).json()
        assert reply["choices"][0]["message"]["content"] == "hi NONCE7"
        assert [r["nonce"] for r in running.log.records()] == ["NONCE7"]
    finally:
        running.stop()
    assert not running.alive()


def test_a_port_in_use_is_reported_as_a_conflict(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ResourceConflict, match=f"port {port} on 127.0.0.1 is already in use"):
            start_model_server(tmp_path / "run", port=port)
