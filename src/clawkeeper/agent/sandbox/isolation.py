"""Isolation: a loopback-only network namespace plus PID, mount and IPC namespaces, held open.

A *holder* process (`unshare --fork --pid --mount-proc --net --mount --ipc ... sleep infinity`)
keeps the namespaces alive; the `sleep` is PID 1 inside them. Every lab command enters with
`nsenter -t <holder> -p -n -m -i`. Why each namespace (see CANARY.md in the reference notes):
- net: the only interface is `lo`, so nothing OpenClaw tries (update checks, DNS, model catalog
  refreshes) can leave the machine, and the gateway port cannot clash with the host's;
- pid: OpenClaw records owner PIDs in leases and lock files; in its own PID space a copied state
  never sees a live process with that PID, and SIGKILL to the holder ends every process in it;
- mount: a private /tmp (OpenClaw hardcodes lock and cache paths there) and the mount plan;
- ipc: no shared memory with the host.

As root we use these directly ("namespace"). A normal user gets the same through a user namespace
(`unshare --user --map-root-user`, "userns") where the kernel allows it. Otherwise there is no
isolation ("none"): only environment variables keep OpenClaw quiet, and `lab status` says so.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from clawkeeper.agent.sandbox import procscan
from clawkeeper.agent.sandbox.mounts import MountPlan
from clawkeeper.effects import proc
from clawkeeper.errors import ClawkeeperError, EnvironmentProblem, SandboxError

SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


class Isolation(StrEnum):
    NAMESPACE = "namespace"  # root: real namespaces
    USERNS = "userns"  # non-root: the same namespaces inside a user namespace
    NONE = "none"  # environment variables only


def find_tool(name: str) -> str | None:
    """`ip` lives in /usr/sbin, which is often not on a normal user's PATH."""
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@dataclass(frozen=True)
class Capabilities:
    is_root: bool
    tools: dict[str, str | None]
    userns: bool | None = None  # None: not probed
    userns_problem: str | None = None

    @property
    def missing_tools(self) -> list[str]:
        return [name for name, path in self.tools.items() if path is None]

    def to_json(self) -> dict[str, Any]:
        return {"is_root": self.is_root, "tools": self.tools, "userns": self.userns}


def probe_capabilities(*, probe_userns: bool = True) -> Capabilities:
    tools = {name: find_tool(name) for name in ("unshare", "nsenter", "mount")}
    is_root = os.geteuid() == 0
    userns: bool | None = None
    problem: str | None = None
    if not is_root and probe_userns and tools["unshare"]:
        try:
            result = proc.run([tools["unshare"], "--user", "--map-root-user", "--net", "true"], timeout=10)
            userns = result.ok
            problem = None if result.ok else result.stderr_tail(160)
        except ClawkeeperError as exc:
            userns, problem = False, exc.message
    return Capabilities(is_root=is_root, tools=tools, userns=userns, userns_problem=problem)


def choose_isolation(requested: str, caps: Capabilities) -> Isolation:
    """The isolation to use for `requested` (auto | namespace | none), or EnvironmentProblem."""
    if requested == "none":
        return Isolation.NONE
    possible: Isolation | None = None
    reason = ""
    if caps.missing_tools:
        reason = "missing " + ", ".join(caps.missing_tools) + " (util-linux)"
    elif caps.is_root:
        possible = Isolation.NAMESPACE
    elif caps.userns:
        possible = Isolation.USERNS
    else:
        reason = "not root and user namespaces are not available" + (
            f" ({caps.userns_problem})" if caps.userns_problem else ""
        )
    if possible is not None:
        return possible
    if requested == "namespace":
        raise EnvironmentProblem(
            f"namespace isolation is not possible here: {reason}",
            hint="run as root, allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1), or pass --isolation none",
        )
    return Isolation.NONE


def holder_argv(mode: Isolation, unshare: str = "unshare") -> list[str]:
    if mode is Isolation.NONE:
        raise ValueError("no holder without isolation")
    user = ["--user", "--map-root-user"] if mode is Isolation.USERNS else []
    return [
        unshare,
        *user,
        "--fork",
        "--pid",
        "--mount-proc",
        "--net",
        "--mount",
        "--ipc",
        "--propagation",
        "private",
        "--kill-child",  # if the unshare process dies, the namespace's init dies with it
        "sleep",
        "infinity",
    ]


def enter_prefix(
    mode: Isolation, holder_pid: int, *, workdir: Path | None, nsenter: str = "nsenter"
) -> tuple[str, ...]:
    """The argv prefix that runs a command inside the holder's namespaces.

    Entering a mount namespace resets the working directory; we set it explicitly (the instance's
    HOME) so relative paths land somewhere private rather than at `/`.
    """
    if mode is Isolation.NONE:
        return ()
    # In a user namespace made by `unshare --map-root-user`, setgroups is denied: keep our
    # credentials (they map to root inside) instead of letting nsenter try to reset them.
    user = ("-U", "--preserve-credentials") if mode is Isolation.USERNS else ()
    wd = (f"--wd={workdir}",) if workdir is not None else ()
    return (nsenter, "-t", str(holder_pid), *user, "-p", "-n", "-m", "-i", *wd, "--")


@dataclass(frozen=True)
class Holder:
    mode: Isolation
    pid: int  # PID 1 of the namespace (host PID): what nsenter targets and SIGKILL ends
    parent: int  # the `unshare` process
    namespaces: dict[str, str] = field(default_factory=dict)  # kind -> link

    def prefix(self, workdir: Path | None = None) -> tuple[str, ...]:
        return enter_prefix(self.mode, self.pid, workdir=workdir, nsenter=find_tool("nsenter") or "nsenter")


NS_KINDS = ("pid", "net", "mnt", "ipc", "user")


def namespace_links(pid: int) -> dict[str, str]:
    return {kind: link for kind in NS_KINDS if (link := procscan.ns_link(pid, kind)) is not None}


def start_holder(
    mode: Isolation,
    *,
    env: Mapping[str, str],
    log_path: Path,
    cwd: Path,
    timeout: float = 10.0,
) -> tuple[Holder, Any]:
    """Start the holder and wait until its namespace init exists. Returns (holder, Popen of unshare)."""
    unshare = find_tool("unshare") or "unshare"
    popen = proc.spawn(holder_argv(mode, unshare), log_path=log_path, env=env, cwd=cwd)
    mine = procscan.ns_link(os.getpid(), "pid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise SandboxError(
                f"could not create the lab's namespaces (unshare exited {popen.returncode})",
                hint=_tail(log_path) or "check that this kernel allows the namespaces",
            )
        for child in procscan.children(popen.pid):
            link = procscan.ns_link(child, "pid")
            if link is not None and link != mine:
                return Holder(mode, child, popen.pid, namespace_links(child)), popen
        time.sleep(0.02)
    proc.terminate(popen.pid, timeout=2)
    raise SandboxError("the lab's namespace holder did not start in time", hint=_tail(log_path))


def run_inside(holder: Holder, argv: list[str], *, env: Mapping[str, str], timeout: float = 30.0) -> None:
    result = proc.run([*holder.prefix(), *argv], timeout=timeout, env=env)
    if not result.ok:
        raise SandboxError(
            f"namespace setup failed: `{' '.join(argv)}` exited {result.returncode}",
            hint=result.stderr_tail(200),
        )


def prepare(holder: Holder, plan: MountPlan, *, env: Mapping[str, str]) -> None:
    """Bring up loopback (the only interface) and apply the mount plan inside the namespaces."""
    # loopback is brought up by a tiny Python ioctl, so the lab needs no iproute2
    run_inside(holder, [sys.executable, "-m", "clawkeeper.agent.sandbox.loopback"], env=env)
    for command in plan.mount_commands():
        run_inside(holder, command, env=env)


def stop_holder(holder_pid: int, parent_pid: int | None) -> None:
    """SIGKILL the namespace's init, which ends every process left in the PID namespace.

    SIGTERM would be ignored: PID 1 of a namespace only gets signals it handles, and sleep has no
    handler. The `unshare` parent then exits by itself; we reap it if it is our child.
    """
    proc.terminate(holder_pid, timeout=0)  # timeout 0: straight to SIGKILL
    if parent_pid is not None:
        proc.terminate(parent_pid, timeout=3)


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-400:]
