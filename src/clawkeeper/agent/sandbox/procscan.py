"""What /proc says about the lab's processes: identity, namespaces, environment markers, ports.

A PID alone is not an identity: after a crash or a reboot the number can belong to someone else.
We pair it with the process start time (field 22 of /proc/<pid>/stat) and only ever signal a
process whose pair still matches. Orphans of an interrupted run are found by an environment
marker every lab process inherits, so they can be cleaned up even when no PID was recorded.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.effects.proc import pid_alive

PROC = Path("/proc")
# Every process the lab starts carries this variable (value: the instance directory).
MARKER_ENV = "CLAWKEEPER_LAB_INSTANCE"
# npm installs carry this one (value: the partial install directory they write to).
INSTALL_MARKER_ENV = "CLAWKEEPER_LAB_INSTALL"


@dataclass(frozen=True)
class ProcessRef:
    """A process we started: its PID plus its start time, so a reused PID is never mistaken for it."""

    pid: int
    start_ticks: int | None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_ticks": self.start_ticks}

    @classmethod
    def from_json(cls, value: Any) -> ProcessRef | None:
        if not isinstance(value, dict) or not isinstance(value.get("pid"), int):
            return None
        ticks = value.get("start_ticks")
        return cls(pid=value["pid"], start_ticks=ticks if isinstance(ticks, int) else None)

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(pid=pid, start_ticks=start_ticks(pid))

    def alive(self) -> bool:
        """True when this very process (same PID and start time) still runs and is not a zombie."""
        if not pid_alive(self.pid):
            return False
        if self.start_ticks is None:
            return True
        return start_ticks(self.pid) == self.start_ticks


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is parenthesised and may contain spaces or ')': split after the last ')'
    _, _, rest = text.rpartition(")")
    return rest.split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    # rest[0] is field 3 (state); starttime is field 22, so index 19
    if fields is None or len(fields) < 20:
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 2:
        return None
    return int(fields[1])


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<pid>/task/*/children, with a scan as fallback)."""
    found: set[int] = set()
    task_dir = PROC / str(pid) / "task"
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            with contextlib.suppress(OSError):
                found.update(int(x) for x in (task / "children").read_text().split())
    if not found:
        found.update(p for p in all_pids() if parent_pid(p) == pid)
    return sorted(found)


def all_pids() -> Iterator[int]:
    with contextlib.suppress(OSError):
        for entry in PROC.iterdir():
            if entry.name.isdigit():
                yield int(entry.name)


def ns_link(pid: int, kind: str) -> str | None:
    """`/proc/<pid>/ns/<kind>` target, e.g. 'net:[4026532317]'; None if unreadable."""
    try:
        return str((PROC / str(pid) / "ns" / kind).readlink())
    except OSError:
        return None


def environ(pid: int) -> dict[str, str] | None:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class FoundProcess:
    pid: int
    command: str
    why: str  # "marker", "home" or "namespace": how it was tied to the instance

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "command": self.command, "why": self.why}


def processes_of_instance(
    instance_dir: Path, home: Path, pid_ns: str | None = None, *, exclude: frozenset[int] = frozenset()
) -> list[FoundProcess]:
    """Every live process tied to an instance: by marker, by HOME, or inside its PID namespace.

    `pid_ns` is the instance's PID-namespace link (from lab.json); it is only trusted together with
    the marker or HOME checks by the caller's choice, since namespace inode numbers are reused.
    """
    me = os.getpid()
    marker = str(instance_dir)
    home_text = str(home)
    found: list[FoundProcess] = []
    for pid in all_pids():
        if pid == me or pid in exclude or not pid_alive(pid):
            continue
        env = environ(pid)
        why: str | None = None
        if env is not None and env.get(MARKER_ENV) == marker:
            why = "marker"
        elif env is not None and env.get("HOME") == home_text:
            why = "home"
        elif pid_ns is not None and ns_link(pid, "pid") == pid_ns:
            why = "namespace"
        if why is not None:
            found.append(FoundProcess(pid=pid, command=cmdline(pid)[:200] or comm(pid), why=why))
    return found


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of live processes whose environment has `name=value` (other than this process)."""
    me = os.getpid()
    return [
        pid
        for pid in all_pids()
        if pid != me and pid_alive(pid) and (env := environ(pid)) is not None and env.get(name) == value
    ]


def processes_in_pid_ns(pid_ns: str, *, exclude: frozenset[int] = frozenset()) -> list[int]:
    return [pid for pid in all_pids() if pid not in exclude and ns_link(pid, "pid") == pid_ns]


def host_pid_for_ns_pid(ns_pid: int, pid_ns: str) -> int | None:
    """Map a PID as seen inside a PID namespace to the host PID, via NSpid in /proc/*/status."""
    for pid in all_pids():
        if ns_link(pid, "pid") != pid_ns:
            continue
        try:
            status = (PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                ids = line.split()[1:]
                if ids and ids[-1] == str(ns_pid):
                    return pid
    return None


@dataclass(frozen=True)
class PortOwner:
    pid: int | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another process"
        return f"pid {self.pid} ({self.command or 'unknown command'})"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Can we bind host:port right now? (SO_REUSEADDR, as the listener we start will use.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


TCP_LISTEN = "0A"


def listening_inodes(port: int, tables: tuple[str, ...] = ("tcp", "tcp6")) -> set[int]:
    """Socket inodes listening on `port` on any local address, from /proc/net/tcp{,6}."""
    inodes: set[int] = set()
    for table in tables:
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        inodes |= parse_listeners(lines, port)
    return inodes


def parse_listeners(lines: list[str], port: int) -> set[int]:
    """From /proc/net/tcp rows: inodes of sockets in LISTEN state on `port` (pure)."""
    found: set[int] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        _, _, hex_port = fields[1].rpartition(":")
        with contextlib.suppress(ValueError):
            if int(hex_port, 16) == port:
                found.add(int(fields[9]))
    return found


def _fd_links(pid: int) -> set[str]:
    """What the process's open descriptors point at (descriptors may close while we look)."""
    links: set[str] = set()
    try:
        entries = list((PROC / str(pid) / "fd").iterdir())
    except OSError:
        return links
    for entry in entries:
        with contextlib.suppress(OSError):
            links.add(str(entry.readlink()))
    return links


def port_owners(port: int) -> list[PortOwner]:
    """Who listens on `port` (any local address), as far as this user may see."""
    inodes = listening_inodes(port)
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    owners: list[PortOwner] = []
    for pid in all_pids():
        if _fd_links(pid) & wanted:
            owners.append(PortOwner(pid=pid, command=cmdline(pid)[:120] or comm(pid) or None))
    return owners or [PortOwner(pid=None, command=None)]
