"""Liveness records for running backups, and prune's own lock. Neither ever blocks a backup.

A backup writes `sessions/<random>.json` when it starts, refreshes it every minute, and deletes it
when it ends. Nobody waits on it: prune only reads the records to decide whether a backup that
began before its mark might still be about to name a blob the mark would delete. A record whose
process is gone (same host, PID not alive) or whose heartbeat is old is stale and ignored, so a
kill -9 never leaves anything a later run must "unlock".

Prunes do exclude each other (two sweeps could drop each other's rewritten index entries) with
`locks/prune`, created exclusively; a stale one (dead PID on this host, old heartbeat) is broken
automatically.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clawkeeper.backup.targets.base import BackupTarget, ObjectMissing
from clawkeeper.effects.proc import pid_alive
from clawkeeper.errors import ResourceConflict

HEARTBEAT_S = 60.0
STALE_AFTER_S = 30 * 60.0
PRUNE_LOCK = "locks/prune"


@dataclass(frozen=True)
class LivenessRecord:
    name: str
    kind: str
    host: str
    pid: int
    started_at: float
    heartbeat: float

    def is_live(self, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
        if self.host == socket.gethostname() and not pid_alive(self.pid):
            return False
        return (now if now is not None else time.time()) - self.heartbeat < stale_after_s

    @classmethod
    def parse(cls, name: str, raw: bytes) -> LivenessRecord | None:
        try:
            data: Any = json.loads(raw)
            return cls(
                name=name,
                kind=str(data["kind"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                started_at=float(data["started_at"]),
                heartbeat=float(data["heartbeat"]),
            )
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            return None


def _record(kind: str, started_at: float) -> bytes:
    doc = {
        "kind": kind,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": started_at,
        "heartbeat": time.time(),
    }
    return json.dumps(doc).encode()


class Session:
    """A running backup's liveness record, refreshed by a daemon thread until `close`."""

    def __init__(self, target: BackupTarget, kind: str = "backup", heartbeat_s: float = HEARTBEAT_S) -> None:
        self.target = target
        self.kind = kind
        self.name = f"sessions/{secrets.token_hex(16)}.json"
        self.started_at = time.time()
        self._stop = threading.Event()
        self._heartbeat_s = heartbeat_s
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        # a liveness record needs no durability (after a crash its process is gone anyway), so a
        # target that can skip the fsyncs does: two fewer flushes per backup
        write: Callable[[str, bytes], None] = getattr(self.target, "write_volatile", self.target.write)
        write(self.name, _record(self.kind, self.started_at))

    def __enter__(self) -> Session:
        self._write()
        self._thread = threading.Thread(target=self._beat, name="backup-session-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            with contextlib.suppress(Exception):
                self._write()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.target.delete(self.name)


def list_sessions(target: BackupTarget) -> list[LivenessRecord]:
    out: list[LivenessRecord] = []
    for info in target.list("sessions"):
        try:
            raw = target.read(info.name)
        except ObjectMissing:
            continue
        record = LivenessRecord.parse(info.name, raw)
        if record is not None:
            out.append(record)
    return out


def remove_stale_sessions(target: BackupTarget, now: float | None = None) -> int:
    removed = 0
    for record in list_sessions(target):
        if not record.is_live(now):
            removed += int(target.delete(record.name))
    return removed


class PruneLock:
    """Exclusive among prunes only. Raises ResourceConflict when a live prune holds it."""

    def __init__(self, target: BackupTarget) -> None:
        self.target = target
        self.started_at = time.time()
        self._held = False

    def __enter__(self) -> PruneLock:
        for _attempt in range(2):
            if self.target.create_exclusive(PRUNE_LOCK, _record("prune", self.started_at)):
                self._held = True
                return self
            try:
                holder = LivenessRecord.parse(PRUNE_LOCK, self.target.read(PRUNE_LOCK))
            except ObjectMissing:
                continue  # released between our attempt and the read
            if holder is not None and holder.is_live():
                raise ResourceConflict(
                    f"another prune is running on {holder.host} (pid {holder.pid})",
                    hint="wait for it to finish; backups are not affected",
                )
            self.target.delete(PRUNE_LOCK)  # stale: its process is gone
        raise ResourceConflict("could not take the prune lock", hint="retry in a moment")

    def refresh(self) -> None:
        if self._held:
            self.target.write(PRUNE_LOCK, _record("prune", self.started_at))

    def __exit__(self, *_exc: object) -> None:
        if self._held:
            self.target.delete(PRUNE_LOCK)
            self._held = False
