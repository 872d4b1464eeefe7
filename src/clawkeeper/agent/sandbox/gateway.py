"""OpenClaw inside a lab instance: seed config, onboard without a model key, run the gateway.

Everything here builds argv lists and reads OpenClaw's files; the sandbox decides where
(namespace prefix, environment) they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.agent.sandbox.layout import InstanceLayout
from clawkeeper.agent.sandbox.progress import Progress, ProgressEvent, no_progress
from clawkeeper.effects import http
from clawkeeper.effects.fs import atomic_write_json, ensure_dir
from clawkeeper.errors import OperationTimeout, SandboxError

# What keeps OpenClaw from phoning home (update check, feature stats, mDNS, online tools). The
# namespace is what guarantees nothing leaves; these make it stop trying.
QUIET_ENV: dict[str, str] = {
    "OPENCLAW_NO_AUTO_UPDATE": "1",
    "DO_NOT_TRACK": "1",
    "OPENCLAW_DISABLE_BONJOUR": "1",
    "OPENCLAW_OFFLINE": "1",
    "NO_COLOR": "1",
}


def instance_env(
    instance: InstanceLayout, *, npm_prefix: Path, npm_cache: Path, private_tmp: bool
) -> dict[str, str]:
    """Variables every OpenClaw process of this instance runs with.

    HOME selects the state (`$HOME/.openclaw`). The OPENCLAW_* location variables and XDG dirs are
    pinned to the instance as well, so a user's own settings in the calling shell cannot point the
    lab at their live agent. npm's prefix and cache are the lab's (what `openclaw update` uses).
    """
    home = instance.home
    env = {
        "HOME": str(home),
        "OPENCLAW_HOME": str(home),
        "OPENCLAW_STATE_DIR": str(instance.state_dir),
        "OPENCLAW_CONFIG_PATH": str(instance.config_path),
        "OPENCLAW_PROFILE": "default",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "NPM_CONFIG_PREFIX": str(npm_prefix),
        "npm_config_cache": str(npm_cache),
        **QUIET_ENV,
    }
    if not private_tmp:
        # Without a mount namespace /tmp is the host's: point what honours these at the instance.
        env["TMPDIR"] = str(instance.tmp)
        env["NODE_COMPILE_CACHE"] = str(instance.tmp / "node-compile-cache")
    return env


def seed_config(instance: InstanceLayout) -> None:
    """Write the first openclaw.json, before onboarding, so even onboarding logs inside the lab."""
    ensure_dir(instance.state_dir)
    atomic_write_json(
        instance.config_path,
        {"logging": {"file": str(instance.openclaw_log)}, "update": {"checkOnStart": False}},
    )


def onboard_args(port: int, token: str) -> list[str]:
    """`openclaw onboard` for a local gateway on loopback with token auth and no model key."""
    return [
        "onboard",
        "--non-interactive",
        "--accept-risk",
        "--mode", "local",
        "--auth-choice", "skip",
        "--gateway-bind", "loopback",
        "--gateway-port", str(port),
        "--gateway-auth", "token",
        "--gateway-token", token,
        "--skip-daemon",
        "--skip-channels",
        "--skip-skills",
        "--skip-search",
        "--skip-health",
        "--skip-ui",
        "--skip-hooks",
        "--json",
    ]  # fmt: skip


def gateway_args(port: int) -> list[str]:
    return ["gateway", "run", "--port", str(port), "--bind", "loopback"]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    status: int | None
    body: dict[str, Any] | None
    error: str | None
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "status": self.status, "error": self.error}


def probe_ready(http_base: str, *, timeout: float = 3.0) -> Readiness:
    """GET /readyz: ready means HTTP 200 with `"ready": true` (any other page is not a signal)."""
    response = http.get(f"{http_base}/readyz", timeout=timeout)
    if isinstance(response, http.HttpFailure):
        return Readiness(False, None, None, response.reason, response.elapsed_s)
    body = response.json_or_none()
    body = body if isinstance(body, dict) else None
    ready = response.status == 200 and body is not None and body.get("ready") is True
    error = None if ready else f"HTTP {response.status}" + (f" failing={body.get('failing')}" if body else "")
    return Readiness(ready, response.status, body, error, response.elapsed_s)


def log_tail(path: Path, lines: int = 8, limit: int = 700) -> str:
    """The last lines of a log, joined on one line for an error hint."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    picked = [line.strip() for line in text[-lines:] if line.strip()]
    return " | ".join(picked)[-limit:]


def wait_ready(
    http_base: str,
    *,
    timeout: float,
    still_running: Callable[[], bool],
    log_path: Path,
    progress: Progress = no_progress,
    interval: float = 0.5,
) -> Readiness:
    """Poll /readyz until ready; fail early when the gateway exits, with its log tail as the hint."""
    started = time.monotonic()
    last: Readiness | None = None
    while True:
        elapsed = time.monotonic() - started
        last = probe_ready(http_base, timeout=min(3.0, max(0.5, timeout - elapsed)))
        if last.ready:
            return last
        if not still_running():
            raise SandboxError(
                "the OpenClaw gateway exited before it became ready",
                hint=f"last log lines: {log_tail(log_path)} (log: {log_path})",
            )
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            raise OperationTimeout(
                f"the OpenClaw gateway was not ready within {timeout:g}s ({last.error})",
                hint=f"last log lines: {log_tail(log_path)} (log: {log_path}); raise lab.ready_timeout",
            )
        progress(ProgressEvent("ready", "waiting for /readyz", "tick", elapsed))
        time.sleep(interval)


def gateway_lock_pid(instance: InstanceLayout) -> int | None:
    """The gateway's PID from `gateway.state.lock` (as seen in its own PID namespace)."""
    for lock in instance.gateway_lock_files():
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(lock.read_text().strip() or "{}")
            if isinstance(data, dict) and isinstance(data.get("pid"), int):
                return int(data["pid"])
    return None


def sanitized_base_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus what would point OpenClaw or npm elsewhere."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if name.startswith(("OPENCLAW_", "npm_config_", "NPM_CONFIG_", "CLAWKEEPER_LAB")) or name in (
            "NODE_OPTIONS",
            "NODE_PATH",
        ):
            del env[name]
    return env
