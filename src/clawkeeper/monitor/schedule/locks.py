"""One lock file per job, so two keepers (or a keeper and `schedule run`) never run a job twice.

The lock is an flock on `<job>.lock`: the kernel drops it when its holder dies, even by SIGKILL.
The file also names the holder and the job's child process. A keeper killed hard leaves its child
running (children get their own session so a terminal's Ctrl-C reaches only the keeper); the
next keeper finds the flock free but the recorded child still alive, and waits for it rather than
start a second backup next to it. A file naming a dead holder and a dead child is stale and is
taken over. PIDs are matched with their start time, so a reused PID is not mistaken for the child.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from clawkeeper.effects.fs import ensure_dir
from clawkeeper.effects.proc import pid_alive
from clawkeeper.errors import ResourceConflict


@dataclass(frozen=True)
class LockHolder:
    """What a lock file says about who holds (or last held) the job."""

    job: str
    pid: int
    host: str
    since: float
    child_pid: int | None = None
    child_start: int | None = None  # /proc/<pid>/stat start time, to tell a reused PID apart

    def to_json(self) -> dict[str, object]:
        return {
            "job": self.job,
            "pid": self.pid,
            "host": self.host,
            "since": self.since,
            "child_pid": self.child_pid,
            "child_start": self.child_start,
        }

    @classmethod
    def from_text(cls, text: str) -> LockHolder | None:
        try:
            data = json.loads(text)
            return cls(
                job=str(data["job"]),
                pid=int(data["pid"]),
                host=str(data["host"]),
                since=float(data["since"]),
                child_pid=int(data["child_pid"]) if data.get("child_pid") else None,
                child_start=int(data["child_start"]) if data.get("child_start") else None,
            )
        except (ValueError, KeyError, TypeError):
            return None


class JobBusy(ResourceConflict):
    """Another process runs this job right now."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message, hint="wait for that run to finish; `clawkeeper schedule list` shows it")
        self.holder = holder


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    # fields[0] is field 3 (state); the start time is field 22
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _same_process_alive(pid: int, start: int | None) -> bool:
    if not pid_alive(pid):
        return False
    if start is None:
        return True
    current = process_start_time(pid)
    return current is None or current == start


class JobLock:
    """An exclusive, non-blocking lock for one job. Not reentrant; `release` is idempotent."""

    def __init__(self, path: Path, job: str) -> None:
        self.path = path
        self.job = job
        self._fd: int | None = None
        self._holder: LockHolder | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, now: float) -> LockHolder | None:
        """Take the lock. Returns the stale holder taken over (None if the lock was clean).

        Raises JobBusy when another process holds it or the job's child from an earlier run of
        a dead keeper is still running.
        """
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        ensure_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = LockHolder.from_text(_read(fd))
                who = f"pid {holder.pid}" if holder else "another process"
                raise JobBusy(f"job {self.job} is already running ({who} holds its lock)", holder) from None
            previous = LockHolder.from_text(_read(fd))
            if (
                previous is not None
                and previous.child_pid is not None
                and _same_process_alive(previous.child_pid, previous.child_start)
            ):
                fcntl.flock(fd, fcntl.LOCK_UN)
                raise JobBusy(
                    f"job {self.job} is still running from an earlier keeper (pid {previous.pid}, gone): "
                    f"its process {previous.child_pid} has not finished",
                    previous,
                )
            self._holder = LockHolder(job=self.job, pid=os.getpid(), host=socket.gethostname(), since=now)
            _write(fd, self._holder)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return previous

    def note_child(self, pid: int) -> None:
        """Record the job's child process, so a later keeper knows it may still be running."""
        if self._fd is None or self._holder is None:
            return
        self._holder = LockHolder(
            job=self._holder.job,
            pid=self._holder.pid,
            host=self._holder.host,
            since=self._holder.since,
            child_pid=pid,
            child_start=process_start_time(pid),
        )
        with contextlib.suppress(OSError):
            _write(self._fd, self._holder)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        self._holder = None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _write(fd: int, holder: LockHolder) -> None:
    data = (json.dumps(holder.to_json(), sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
