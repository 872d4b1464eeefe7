"""The probe model: a scripted OpenAI-compatible chat-completions server on 127.0.0.1.

It answers from the script in the probe's message (see `script.py`) and appends every request it
receives to a JSONL log, so probes assert on what the agent really sent and did. It needs no API
key and costs nothing. It is deliberately dumb and safe:

* OpenClaw appends a synthetic user message (`<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>`) to every
  request, after the tool results. The turn's real message is the last user message *without*
  that marker; treating the synthetic one as the prompt restarts the script forever.
* Requests that are not a marked probe turn (heartbeats, background reviews, titles) get a short
  text and never a tool call. A turn issues at most `max_calls` calls, and the process answers at
  most `max_requests` requests with anything but text: no loop can run away.
* Tools OpenClaw lists only by name (Tool Search) are called through its `tool_call` bridge.

Run it as `python -m clawkeeper.probes.model_server --port 0 --log -`: with `--log -` it prints
`{"ready": {"port", "pid"}}` once bound and then one JSON line per request on stdout. clawkeeper
starts it inside the lab's namespaces with stdout going to a file it opened on the host side, so
nothing depends on which paths the sandbox can see (the lab has a private /tmp; a canary sees the
live tree read-only). Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from clawkeeper.probes import script as probe_script

LOOPBACK = "127.0.0.1"
DEFAULT_MODEL_ID = "probe-1"
INTERNAL_CONTEXT_MARKER = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"
TOOL_BRIDGE = "tool_call"
EXIT_PORT_IN_USE = 8  # same number as clawkeeper's ExitCode.CONFLICT
EXCERPT = 2000
STDOUT = Path("-")

_SESSION_RE = re.compile(r"\bsession=(\S+)")


def text_of(content: Any) -> str:
    """Message content as text: OpenAI content may be a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


@dataclass(frozen=True)
class Decision:
    """What the model answers: a tool call or a final text."""

    kind: str  # "tool_call" | "reply" | "idle" | "error"
    text: str | None = None
    tool: str | None = None  # the tool OpenClaw is asked to run (the bridge when bridged)
    wanted_tool: str | None = None  # the tool the script asked for
    arguments: str | None = None
    nonce: str | None = None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.kind == "tool_call" else "stop"

    def message(self) -> dict[str, Any]:
        if self.kind == "tool_call":
            call = {
                "id": "ck" + uuid.uuid4().hex[:12],
                "type": "function",
                "function": {"name": self.tool, "arguments": self.arguments},
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"role": "assistant", "content": self.text or ""}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "tool": self.tool,
            "wanted_tool": self.wanted_tool,
            "arguments": self.arguments,
            "nonce": self.nonce,
        }


@dataclass
class ServerState:
    max_calls: int = 8
    max_requests: int = 500
    requests: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def offered_tools(body: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, dict) else tool.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


def anchor_index(messages: Sequence[Any]) -> int:
    """Index of the turn's real user message: the last user message that is not OpenClaw's
    synthetic internal-context message. -1 when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        if INTERNAL_CONTEXT_MARKER in text_of(message.get("content")):
            continue
        return index
    return -1


def decide(body: dict[str, Any], *, max_calls: int = 8, over_budget: bool = False) -> Decision:
    """The answer to one chat-completions request. Pure: the same body gives the same decision."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return Decision("idle", text=probe_script.IDLE_REPLY)
    anchor = anchor_index(messages)
    if anchor < 0:
        return Decision("idle", text=probe_script.IDLE_REPLY)
    parsed = probe_script.parse(text_of(messages[anchor].get("content")))
    if parsed is None:
        return Decision("idle", text=probe_script.IDLE_REPLY)
    after = [m for m in messages[anchor + 1 :] if isinstance(m, dict)]
    done = sum(len(m.get("tool_calls") or []) for m in after if m.get("role") == "assistant")
    results = [text_of(m.get("content")) for m in after if m.get("role") == "tool"]
    planned = parsed.calls[:max_calls]
    if over_budget or done >= len(planned):
        return Decision("reply", text=parsed.final_reply(results), nonce=parsed.nonce)
    step = planned[done]
    names = offered_tools(body)
    arguments = json.dumps(step.args, separators=(",", ":"))
    if step.tool in names:
        return Decision(
            "tool_call", tool=step.tool, wanted_tool=step.tool, arguments=arguments, nonce=parsed.nonce
        )
    if TOOL_BRIDGE in names:
        bridged = json.dumps({"id": step.tool, "args": step.args}, separators=(",", ":"))
        return Decision(
            "tool_call", tool=TOOL_BRIDGE, wanted_tool=step.tool, arguments=bridged, nonce=parsed.nonce
        )
    offered = ",".join(names) if names else "none"
    return Decision(
        "error",
        text=f"{probe_script.ERROR_PREFIX} {parsed.nonce} tool {step.tool} not offered (offered: {offered})",
        wanted_tool=step.tool,
        nonce=parsed.nonce,
    )


def summarize_request(
    path: str, headers: dict[str, str], body: dict[str, Any], decision: Decision
) -> dict[str, Any]:
    """The log record of one request: enough to assert on, without the multi-kilobyte prompt."""
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    anchor = anchor_index(messages)
    anchor_text = text_of(messages[anchor].get("content")) if anchor >= 0 else ""
    session = _SESSION_RE.search(anchor_text)
    after = [m for m in messages[anchor + 1 :] if isinstance(m, dict)] if anchor >= 0 else []
    roles = [str(m.get("role")) for m in messages if isinstance(m, dict)]
    system_chars = sum(
        len(text_of(m.get("content"))) for m in messages if isinstance(m, dict) and m.get("role") == "system"
    )
    return {
        "ts": time.time(),
        "path": path,
        "model": body.get("model"),
        "stream": bool(body.get("stream")),
        "nonce": probe_script.find_nonce(anchor_text),
        "session": session.group(1) if session else None,
        "prompt": anchor_text[:EXCERPT],
        # nonces of earlier probe turns still in the transcript: proves a session's history survived
        "earlier_nonces": [
            nonce
            for m in messages[: max(anchor, 0)]
            if isinstance(m, dict)
            and m.get("role") == "user"
            and (nonce := probe_script.find_nonce(text_of(m.get("content")))) is not None
        ],
        "tools": offered_tools(body),
        "roles": roles,
        "system_chars": system_chars,
        "tool_calls_before": [
            call.get("function", {}).get("name")
            for m in after
            if m.get("role") == "assistant"
            for call in (m.get("tool_calls") or [])
            if isinstance(call, dict)
        ],
        "tool_results": [text_of(m.get("content"))[:EXCERPT] for m in after if m.get("role") == "tool"],
        "authorization": "present" if headers.get("authorization") else "absent",  # never the value
        "user_agent": headers.get("user-agent"),
        "decision": decision.to_json(),
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # stderr chatter is not evidence; the JSONL is
        pass

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0].rstrip("/")
        if route in ("/health", "/healthz"):
            self._send_json(200, {"ok": True, "model": self.server.model_id})
        elif route.endswith("/models"):
            self.server.record({"ts": time.time(), "path": route, "method": "GET"})
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": self.server.model_id, "object": "model", "owned_by": "clawkeeper"}],
                },
            )
        else:
            self._send_json(404, {"error": {"message": f"no route {route}"}})

    def do_POST(self) -> None:
        route = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not route.endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {route}"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body is not a JSON object"}})
            return
        decision = self.server.answer(route, {k.lower(): v for k, v in self.headers.items()}, body)
        model = body.get("model") or self.server.model_id
        if body.get("stream"):
            self._stream(decision, str(model), bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._send_json(
                200,
                {
                    "id": "chatcmpl-" + uuid.uuid4().hex[:16],
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": decision.message(), "finish_reason": decision.finish_reason}
                    ],
                    "usage": _USAGE,
                },
            )

    def _stream(self, decision: Decision, model: str, include_usage: bool) -> None:
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:16]
        created = int(time.time())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> None:
            payload: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        message = decision.message()
        chunk({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]})
        else:
            chunk({"content": message["content"]})
        chunk({}, decision.finish_reason)
        if include_usage:
            chunk(None, usage=_USAGE)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


_USAGE = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # SO_REUSEADDR lets the next run rebind the port its predecessor left in TIME_WAIT; on Linux it
    # does not let two listeners share a port, so a port really in use still fails with EADDRINUSE.
    allow_reuse_address = True

    def __init__(self, port: int, state: ServerState, log_path: Path | None, model_id: str) -> None:
        self.state = state
        self.log_path = log_path
        self.model_id = model_id
        super().__init__((LOOPBACK, port), _Handler)

    def record(self, entry: dict[str, Any]) -> None:
        with self.state.lock:
            entry["seq"] = len(self.state.records) + 1
            self.state.records.append(entry)
            if self.log_path == STDOUT:
                sys.stdout.write(json.dumps(entry) + "\n")
                sys.stdout.flush()
            elif self.log_path is not None:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Decision:
        with self.state.lock:
            self.state.requests += 1
            over_budget = self.state.requests > self.state.max_requests
        decision = decide(body, max_calls=self.state.max_calls, over_budget=over_budget)
        self.record(summarize_request(path, headers, body, decision))
        return decision


class ProbeModelServer:
    """The server in this process (tests, or `main` below). Binds 127.0.0.1 only."""

    def __init__(
        self,
        *,
        port: int = 0,
        log_path: Path | None = None,
        model_id: str = DEFAULT_MODEL_ID,
        max_calls: int = 8,
        max_requests: int = 500,
    ) -> None:
        self.state = ServerState(max_calls=max_calls, max_requests=max_requests)
        self._server = _Server(port, self.state, log_path, model_id)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def records(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.records)

    def start(self) -> ProbeModelServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="probe-model", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ProbeModelServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _write_ready(path: Path, port: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"port": port, "pid": os.getpid()}), encoding="utf-8")
    tmp.replace(path)


def _watchdog(server: ProbeModelServer, deadline: float, parent_pid: int | None) -> None:
    """Stop when the time budget is spent or the clawkeeper that started us is gone, so a crash
    of clawkeeper never leaves a model server behind for long."""
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if parent_pid is not None and not Path(f"/proc/{parent_pid}").exists():
            break
    server._server.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clawkeeper.probes.model_server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--log", type=Path, default=None, help="append every request here (JSONL); - for stdout"
    )
    parser.add_argument("--ready-file", type=Path, default=None, help="write {port, pid} here when bound")
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID)
    parser.add_argument("--max-calls", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        server = ProbeModelServer(
            port=args.port,
            log_path=args.log,
            model_id=args.model_id,
            max_calls=args.max_calls,
            max_requests=args.max_requests,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"probe model: port {args.port} on {LOOPBACK} is already in use", file=sys.stderr)
            return EXIT_PORT_IN_USE
        print(f"probe model: cannot listen on {LOOPBACK}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    # The parent may live in another PID namespace (the lab); watch it only if we can see it.
    parent = args.parent_pid if args.parent_pid and Path(f"/proc/{args.parent_pid}").exists() else None
    threading.Thread(
        target=_watchdog, args=(server, time.monotonic() + args.max_seconds, parent), daemon=True
    ).start()
    if args.ready_file is not None:
        _write_ready(args.ready_file, server.port)
    if args.log == STDOUT:
        sys.stdout.write(json.dumps({"ready": {"port": server.port, "pid": os.getpid()}}) + "\n")
        sys.stdout.flush()
    print(f"probe model listening on {LOOPBACK}:{server.port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
