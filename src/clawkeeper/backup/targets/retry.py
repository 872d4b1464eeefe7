"""Retries for remote targets, as a wrapper (restic's `RetryBackend`), not inside each target.

A remote target raises `TargetUnreachable` when the connection itself failed (refused, dropped,
timed out); it has then already forgotten the broken connection, so the next call reconnects.
`RetryingTarget` repeats such calls a bounded number of times with a growing pause. Every other
error (a missing object, a refused login, a wrong host key, a full disk) is final and passes
through at once.

Only idempotent calls are simply repeated. `create_exclusive` is not: if the first attempt
created the object and only the answer was lost, the repeat finds the object and would report
"taken" — so a repeat that finds the object compares its bytes with ours and, when they are the
same, reports success. The records written that way hold a host, a PID and a timestamp, so
another writer's record is never byte-identical by chance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from clawkeeper.backup.targets.base import BackupTarget, ObjectInfo, ObjectMissing, TargetError

T = TypeVar("T")

DEFAULT_ATTEMPTS = 4
DEFAULT_FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 8.0


class TargetUnreachable(TargetError):
    """The connection to a remote target failed; trying again (on a new connection) may work."""


class RetryingTarget:
    """A `BackupTarget` that repeats calls failing with `TargetUnreachable`."""

    def __init__(
        self,
        inner: BackupTarget,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        first_pause_s: float = DEFAULT_FIRST_PAUSE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.attempts = attempts
        self.first_pause_s = first_pause_s
        self._sleep = sleep

    def _call(self, operation: Callable[[], T]) -> T:
        pause = self.first_pause_s
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except TargetUnreachable:
                if attempt == self.attempts:
                    raise
            self._sleep(pause)
            pause = min(pause * 2, MAX_PAUSE_S)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @property
    def location(self) -> str:
        return self.inner.location

    def exists(self, name: str) -> bool:
        return self._call(lambda: self.inner.exists(name))

    def stat(self, name: str) -> ObjectInfo | None:
        return self._call(lambda: self.inner.stat(name))

    def read(self, name: str) -> bytes:
        return self._call(lambda: self.inner.read(name))

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        return self._call(lambda: self.inner.read_range(name, offset, length))

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self._call(lambda: self.inner.write(name, data))

    def create_exclusive(self, name: str, data: bytes) -> bool:
        tried = False

        def attempt() -> bool:
            nonlocal tried
            first = not tried
            tried = True
            if self.inner.create_exclusive(name, data):
                return True
            if first:
                return False
            # an earlier attempt may have created it before its answer was lost
            try:
                return self.inner.read(name) == bytes(data)
            except ObjectMissing:
                return False

        return self._call(attempt)

    def delete(self, name: str) -> bool:
        return self._call(lambda: self.inner.delete(name))

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self._call(lambda: self.inner.list(prefix))

    def cleanup_temporaries(self, older_than_s: float) -> int:
        return self._call(lambda: self.inner.cleanup_temporaries(older_than_s))

    def close(self) -> None:
        self.inner.close()
