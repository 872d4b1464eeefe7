"""Finding the gateway's process, cheaply and without guessing.

Tried in order, first answer wins:

1. a lab instance records its gateway's host PID (and start time) in `lab.json`;
2. the gateway writes `<state dir>/tmp/openclaw-<uid>/gateway.state.lock` — JSON with its `pid`
   and `startTime` (kernel start ticks). Inside a PID namespace the pid is the namespace's, so a
   process whose start time matches is looked for instead;
3. the process listening on the gateway port (only a process that looks like OpenClaw counts: a
   lab's port bridge listens there too);
4. the one process titled `openclaw-gateway` — only when there is exactly one.

The collector caches the answer and asks again only when that process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from clawkeeper.agent.openclaw.configfile import gateway_settings
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import LabSettings
from clawkeeper.errors import ClawkeeperError

GATEWAY_TITLE = "openclaw-gateway"
LOCK_GLOB = "tmp/openclaw-*/gateway.state.lock"
_LOOKS_LIKE_OPENCLAW = ("openclaw", "node")


@dataclass(frozen=True)
class FoundPid:
    pid: int
    how: str  # "lab", "lock file", "port", "title"


def clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


def _matches_start(process: psutil.Process, start_ticks: int) -> bool:
    """Does the process's start time equal `start_ticks` (kernel ticks since boot, /proc stat 22)?"""
    try:
        started = process.create_time()
    except psutil.Error:
        return False
    expected = psutil.boot_time() + start_ticks / clock_ticks()
    return bool(abs(started - expected) < 1.0 / clock_ticks() + 0.02)


def alive(pid: int) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def from_lab(lab: LabSettings, target: OpenClawTarget) -> FoundPid | None:
    if not target.label.startswith("lab:"):
        return None
    from clawkeeper.agent.sandbox import Sandbox

    try:
        state = Sandbox(lab, name=target.label.split(":", 1)[1]).state()
    except ClawkeeperError:
        return None
    ref = state.processes.get("gateway") if state is not None else None
    if ref is None or not ref.alive():
        return None
    return FoundPid(ref.pid, "lab")


def read_lock(path: Path) -> tuple[int, int | None] | None:
    """(pid, start ticks) from a gateway.state.lock, None when unreadable or not that shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace").strip() or "{}")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or isinstance(data["pid"], bool):
        return None
    ticks = data.get("startTime")
    return int(data["pid"]), int(ticks) if isinstance(ticks, int) and not isinstance(ticks, bool) else None


def from_lock_file(state_dir: Path, candidates: Callable[[], Iterable[psutil.Process]]) -> FoundPid | None:
    for lock in sorted(state_dir.glob(LOCK_GLOB)):
        entry = read_lock(lock)
        if entry is None:
            continue
        pid, ticks = entry
        process = alive(pid)
        if process is not None and (ticks is None or _matches_start(process, ticks)):
            return FoundPid(pid, "lock file")
        if ticks is not None:
            # a gateway in its own PID namespace wrote its namespace pid: match the start time
            for other in candidates():
                if _matches_start(other, ticks):
                    return FoundPid(other.pid, "lock file")
    return None


def _looks_like_openclaw(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        name = process.name().lower()
        if name == GATEWAY_TITLE or any(word in name for word in _LOOKS_LIKE_OPENCLAW):
            return True
        return any("openclaw" in part for part in process.cmdline()[:3])
    return False


def gateway_port(target: OpenClawTarget, config: dict[str, object]) -> int | None:
    if target.http_base:
        with contextlib.suppress(ValueError):
            return urlsplit(target.http_base).port
        return None
    return gateway_settings(config, target.process_env()).port


def from_port(port: int) -> FoundPid | None:
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None  # other users' sockets need privileges on some systems
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            process = alive(conn.pid)
            if process is not None and _looks_like_openclaw(process):
                return FoundPid(conn.pid, "port")
    return None


def titled_gateways() -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["name"]):
        if process.info.get("name") == GATEWAY_TITLE:
            found.append(process)
    return found


def from_title() -> FoundPid | None:
    found = titled_gateways()
    return FoundPid(found[0].pid, "title") if len(found) == 1 else None


def find_gateway_pid(
    target: OpenClawTarget, lab: LabSettings, state_dir: Path, config: Callable[[], dict[str, object]]
) -> FoundPid | None:
    """The gateway's host PID, by the first method that knows (see the module docstring)."""
    found = from_lab(lab, target) or from_lock_file(state_dir, titled_gateways)
    if found is not None:
        return found
    try:
        port = gateway_port(target, config())
    except ClawkeeperError:  # an unreadable config only removes this one method
        port = None
    return (from_port(port) if port else None) or from_title()
