"""Progress reporting for long operations: the core calls back, the CLI draws the bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    phase: str  # "scan", "backup", "restore", "verify", "prune"
    done_bytes: int
    total_bytes: int | None
    done_items: int
    total_items: int | None
    current: str | None = None


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Accumulates counters and calls the callback at most every `interval_s` (and at `finish`)."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        phase: str,
        *,
        total_bytes: int | None = None,
        total_items: int | None = None,
        interval_s: float = 0.1,
    ) -> None:
        self.callback = callback
        self.phase = phase
        self.total_bytes = total_bytes
        self.total_items = total_items
        self.done_bytes = 0
        self.done_items = 0
        self.current: str | None = None
        self._interval = interval_s
        self._last = 0.0

    def advance(self, nbytes: int = 0, items: int = 0, current: str | None = None) -> None:
        self.done_bytes += nbytes
        self.done_items += items
        if current is not None:
            self.current = current
        if self.callback is None:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._emit()

    def finish(self) -> None:
        if self.callback is not None:
            self._emit()

    def _emit(self) -> None:
        assert self.callback is not None  # noqa: S101 - checked by callers
        self.callback(
            Progress(
                self.phase, self.done_bytes, self.total_bytes, self.done_items, self.total_items, self.current
            )
        )
