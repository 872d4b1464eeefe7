#!/usr/bin/env python3
"""A fake `openclaw` CLI for unit tests: just enough of OpenClaw's behaviour for the probes.

State lives in the JSON file named by $FAKE_OPENCLAW_STATE (knobs the test sets: versions,
findings, `gateway_down`, plugin statuses) and the config in $HOME/.openclaw/openclaw.json.
`agent` runs a real turn loop against the configured model provider (the probe model in tests):
it sends the message and OpenClaw's synthetic internal-context message, executes the tools the
model calls (exec through a shell, write, memory_search over the workspace, the tool_call
bridge), honours `tools.deny`, and keeps each session's transcript, like the gateway does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

HOME = Path(os.environ["HOME"])
CONFIG = HOME / ".openclaw" / "openclaw.json"
STATE = Path(os.environ["FAKE_OPENCLAW_STATE"])
INTERNAL = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>"
DIRECT = ["exec", "read", "write", "tool_call"]
BRIDGED = ["memory_search", "memory_get"]


def load(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def save(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))


def out(value: Any, code: int = 0) -> None:
    print(json.dumps(value))
    sys.exit(code)


def unreachable() -> None:
    port = load(CONFIG, {}).get("gateway", {}).get("port", 18789)
    sys.stderr.write(json.dumps({"ok": False, "reason": f"connect ECONNREFUSED 127.0.0.1:{port}"}) + "\n")
    sys.exit(1)


def merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def option(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


def denied(config: dict[str, Any]) -> set[str]:
    return set(config.get("tools", {}).get("deny", []))


def run_tool(name: str, arguments: dict[str, Any], workspace: Path, config: dict[str, Any]) -> str:
    if name in denied(config):
        return json.dumps({"status": "error", "error": f"Tool {name} denied by policy"})
    if name == "exec":
        done = subprocess.run(
            ["/bin/sh", "-c", arguments["command"]],
            capture_output=True,
            text=True,
            cwd=workspace,
            timeout=30,
            check=False,
        )
        return done.stdout
    if name == "write":
        path = workspace / arguments["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(arguments["content"])
        return f"Successfully wrote {len(arguments['content'])} bytes to {arguments['path']}"
    if name == "memory_search":
        words = [w for w in re.findall(r"[A-Za-z0-9-]+", arguments["query"]) if len(w) > 5]
        hits = [
            {"path": str(p.relative_to(workspace)), "snippet": p.read_text()}
            for p in sorted((workspace / "memory").glob("*.md"))
            if any(w in p.read_text() for w in words) and not load(STATE, {}).get("memory_broken")
        ]
        return json.dumps({"results": hits})
    if name == "tool_call":
        inner = arguments.get("id", "")
        if inner not in BRIDGED or inner in denied(config):
            return json.dumps({"status": "error", "tool": "tool_call", "error": f"Unknown tool id: {inner}."})
        return json.dumps(
            {"tool": {"id": inner}, "result": run_tool(inner, arguments.get("args", {}), workspace, config)}
        )
    return json.dumps({"status": "error", "error": f"unknown tool {name}"})


def agent_turn(agent_id: str, session: str, message: str) -> dict[str, Any]:
    config = load(CONFIG, {})
    entry = config.get("agents", {}).get("entries", {}).get(agent_id)
    if entry is None:
        return {"ok": False, "error": {"type": "cli_error", "message": f'Unknown agent id "{agent_id}"'}}
    provider_id, _model = entry["model"]["primary"].split("/", 1)
    provider = config["models"]["providers"][provider_id]
    workspace = Path(entry["workspace"])
    workspace.mkdir(parents=True, exist_ok=True)
    state = load(STATE, {})
    transcript = state.setdefault("sessions", {}).setdefault(f"{agent_id}:{session}", [])
    transcript.append(
        {"role": "user", "content": f"[Sun 2026-11-22 03:35 UTC] {message}\n\nRuntime: session={session}"}
    )
    tools = [{"type": "function", "function": {"name": n}} for n in DIRECT if n not in denied(config)]
    used: list[str] = []
    reply = ""
    for _ in range(10):
        body = {
            "model": _model,
            "stream": False,
            "tools": tools,
            "messages": [
                {"role": "system", "content": "fake"},
                *transcript,
                {"role": "user", "content": [{"type": "text", "text": f"{INTERNAL} none"}]},
            ],
        }
        request = urllib.request.Request(  # noqa: S310 - the loopback probe model of the test
            f"{provider['baseUrl']}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {provider['apiKey']}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback test server
                choice = json.loads(answer.read())["choices"][0]
        except OSError as exc:
            return {
                "runId": "r",
                "status": "error",
                "summary": "failed",
                "error": {"message": f"model provider unreachable: {exc}"},
            }
        assistant = choice["message"]
        transcript.append(assistant)
        calls = assistant.get("tool_calls") or []
        if not calls:
            reply = assistant.get("content") or ""
            break
        for call in calls:
            name = call["function"]["name"]
            used.append(name)
            result = run_tool(name, json.loads(call["function"]["arguments"]), workspace, config)
            transcript.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    save(STATE, state)
    return {
        "runId": "r",
        "status": "ok",
        "summary": "completed",
        "result": {
            "payloads": [{"text": reply}],
            "meta": {"toolSummary": {"calls": len(used), "tools": sorted(set(used)), "failures": 0}},
        },
    }


def main(args: list[str]) -> None:
    state = load(STATE, {})
    if args[:1] == ["--version"]:
        print(f"OpenClaw {state.get('cli_version', '2026.9.6')} (abc1234)")
        return
    command = " ".join(a for a in args[:2])
    config = load(CONFIG, {})
    gateway_commands = (
        "gateway call",
        "agent --agent",
        "cron add",
        "cron runs",
        "cron rm",
        "cron status",
        "channels status",
    )
    if state.get("gateway_down") and any(" ".join(args).startswith(c) for c in gateway_commands):
        unreachable()
    if command == "gateway call":
        method = args[2]
        if method == "status":
            out({"runtimeVersion": state.get("running_version", "2026.9.6")})
        if method == "gateway.restart.request":
            state["restarts"] = state.get("restarts", 0) + 1
            save(STATE, state)
            out({"ok": True, "status": "scheduled"})
        out({"ok": False, "error": {"type": "cli_error", "message": f"unknown method {method}"}}, 1)
    if command == "config validate":
        issues = state.get("config_issues", [])
        out({"valid": not issues, "path": str(CONFIG), "warnings": [], "issues": issues}, 1 if issues else 0)
    if command == "config patch":
        patch = json.loads(sys.stdin.read())
        before = set(config.get("agents", {}).get("entries", {}))
        merged = merge(config, patch)
        if before - set(merged.get("agents", {}).get("entries", {})):
            sys.stderr.write("Config write would drop agent roster entries without an explicit deletion\n")
            sys.exit(1)
        save(CONFIG, merged)
        print(f"Applied {len(patch)} config update(s).")
        return
    if command == "agents delete":
        entries = config.get("agents", {}).get("entries", {})
        entries.pop(args[2], None)
        # Like OpenClaw 2026.9.6: a roster change pins an explicit owner.
        config["agents"]["ownership"] = "explicit"
        config["agents"].setdefault("defaults", {})["systemAgent"] = {"agentId": "main"}
        save(CONFIG, config)
        out({"agentId": args[2], "removed": [], "failed": []})
    if command == "doctor --lint":
        floor = option(args, "--severity-min", "warning")
        order = ["info", "warning", "error"]
        findings = [
            f for f in state.get("doctor_findings", []) if order.index(f["severity"]) >= order.index(floor)
        ]
        out(
            {"schemaVersion": 1, "ok": not findings, "checksRun": 35, "findings": findings},
            1 if findings else 0,
        )
    if command == "doctor --post-upgrade":
        out({"probesRun": ["plugin.version_drift"], "findings": []})
    if command == "security audit":
        findings = state.get("security_findings", [])
        out(
            {
                "summary": {"critical": sum(f["severity"] == "critical" for f in findings)},
                "findings": findings,
            }
        )
    if command == "plugins list":
        out({"plugins": state.get("plugins", [{"id": "memory-core", "enabled": True, "status": "loaded"}])})
    if command == "channels status":
        out({"channels": state.get("channels", {}), "statusIssues": state.get("channel_issues", [])})
    if args[:1] == ["agent"]:
        result = agent_turn(
            option(args, "--agent") or "",
            option(args, "--session-key") or "main",
            option(args, "--message") or "",
        )
        out(result, 0 if result.get("status") == "ok" else 1)
    if command == "cron status":
        out({"enabled": config.get("cron", {}).get("enabled", True), "jobs": len(state.get("cron", {}))})
    if command == "cron add":
        job = f"job{len(state.get('cron', {})) + 1}"
        runs = []
        if config.get("cron", {}).get("enabled", True):
            turn = agent_turn(option(args, "--agent") or "", f"cron:{job}", option(args, "--message") or "")
            text = turn.get("result", {}).get("payloads", [{}])[0].get("text", "")
            runs = [{"action": "finished", "status": turn["status"], "summary": text, "durationMs": 5}]
        state = load(STATE, {})
        state.setdefault("cron", {})[job] = runs
        save(STATE, state)
        out({"id": job, "agentId": option(args, "--agent")})
    if command == "cron runs":
        out({"entries": state.get("cron", {}).get(option(args, "--id") or "", [])})
    if command == "cron rm":
        state.get("cron", {}).pop(args[2], None)
        save(STATE, state)
        out({"ok": True, "removed": True})
    sys.stderr.write(f"fake openclaw: unsupported command {args}\n")
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
