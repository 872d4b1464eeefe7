"""Incremental reading of append-only line files that rotate, get truncated and vanish.

Files are tracked by identity — (device, inode) — with the byte offset read so far and any
unfinished last line. Each `poll()` looks at the paths it is given, follows a tracked file to its
new name after a rename (`openclaw.log` -> `openclaw.1.log`) and finishes it, starts a new file at
an active path from its first byte, restarts a file that shrank (truncated in place) from 0, and
forgets files that vanished (OpenClaw prunes dated logs after 24 h).

Two kinds of paths: *active* paths are where a writer creates new files (today's log); *rotated*
paths are only followed for files already tracked — an old `openclaw.3.log` nobody was reading is
history, not news. On the very first poll every file starts at its end: the keeper counts what
happens while it watches, not the backlog of the day (with a state file it would resume instead;
this tailer keeps its offsets in memory only, so a keeper restart starts at the end again).

Each poll reads at most `max_bytes` in total (oldest file first), so a burst or a huge backlog
costs bounded memory and time; the rest is read on the next polls. A line longer than
`max_line_bytes` without a newline is dropped (counted in `dropped_lines`) rather than buffered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TailPaths:
    active: Sequence[Path]
    rotated: Sequence[Path] = ()


@dataclass
class _File:
    path: Path
    dev: int
    ino: int
    offset: int
    active: bool
    mtime: float = 0.0
    partial: bytes = b""
    skipping: bool = False  # inside an overlong line: discard up to the next newline


@dataclass
class TailResult:
    lines: list[bytes] = field(default_factory=list)  # complete lines, without the newline
    bytes_read: int = 0
    truncated: int = 0  # files that shrank and were read again from the start
    vanished: int = 0  # tracked files that disappeared
    new_files: int = 0  # files started from their first byte
    dropped_lines: int = 0  # overlong lines discarded
    backlog: bool = False  # the byte budget ran out with unread data left


@dataclass(frozen=True)
class _Seen:
    path: Path
    size: int
    mtime: float
    active: bool


class JsonlTailer:
    def __init__(
        self,
        paths: Callable[[], TailPaths],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        start_at_end: bool = True,
    ) -> None:
        self._paths = paths
        self._max_bytes = max_bytes
        self._max_line = max_line_bytes
        self._first = start_at_end
        self._files: dict[tuple[int, int], _File] = {}

    @property
    def tracked(self) -> dict[Path, int]:
        """Path -> offset of every tracked file (for diagnostics and tests)."""
        return {f.path: f.offset for f in self._files.values()}

    def _scan(self) -> dict[tuple[int, int], _Seen]:
        wanted = self._paths()
        seen: dict[tuple[int, int], _Seen] = {}
        for active, group in ((True, wanted.active), (False, wanted.rotated)):
            for path in group:
                try:
                    st = path.stat()
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key not in seen:
                    seen[key] = _Seen(path, st.st_size, st.st_mtime, active)
        return seen

    def poll(self) -> TailResult:
        result = TailResult()
        seen = self._scan()
        for key in list(self._files):
            if key not in seen:
                del self._files[key]
                result.vanished += 1
        for key, where in seen.items():
            tracked = self._files.get(key)
            if tracked is not None:
                tracked.path, tracked.active, tracked.mtime = where.path, where.active, where.mtime
                if where.size < tracked.offset:
                    tracked.offset, tracked.partial, tracked.skipping = 0, b"", False
                    result.truncated += 1
            elif where.active:
                start = where.size if self._first else 0
                self._files[key] = _File(where.path, key[0], key[1], start, True, where.mtime)
                if not self._first:
                    result.new_files += 1
        self._first = False

        budget = self._max_bytes
        # finish old (rotated, then older) files before newer ones, so lines come in order
        for key, state in sorted(self._files.items(), key=lambda kv: (kv[1].active, kv[1].mtime)):
            if budget <= 0:
                result.backlog = result.backlog or seen[key].size > state.offset
                continue
            read = self._read(state, budget, result)
            budget -= read
            if read and budget <= 0 and seen[key].size > state.offset:
                result.backlog = True
        return result

    def _read(self, state: _File, budget: int, result: TailResult) -> int:
        try:
            with state.path.open("rb") as handle:
                st = os.fstat(handle.fileno())
                if (st.st_dev, st.st_ino) != (state.dev, state.ino):
                    return 0  # replaced between the scan and the open: next poll sorts it out
                handle.seek(state.offset)
                chunk = handle.read(budget)
        except OSError:
            return 0
        if not chunk:
            return 0
        state.offset += len(chunk)
        result.bytes_read += len(chunk)
        self._split(state, chunk, result)
        return len(chunk)

    def _split(self, state: _File, chunk: bytes, result: TailResult) -> None:
        data = state.partial + chunk
        state.partial = b""
        end = data.rfind(b"\n")
        if end < 0:
            complete: list[bytes] = []
            rest = data
        else:
            complete = data[:end].split(b"\n")
            rest = data[end + 1 :]
            if state.skipping:
                complete = complete[1:]  # the tail of the overlong line we already dropped
                state.skipping = False
        for line in complete:
            line = line.rstrip(b"\r")
            if line:
                result.lines.append(line)
        if state.skipping:
            return
        if len(rest) > self._max_line:
            result.dropped_lines += 1
            state.skipping = True
        else:
            state.partial = rest
