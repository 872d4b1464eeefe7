"""A restore in two processes: the files are dealt into two lanes of about equal cost, this
process writes one, a forked one the other.

Restoring is CPU work around every chunk (decrypt, decompress, hash, write) plus the kernel's
work of putting a gigabyte into the page cache. Threads share one GIL and spend much of a
restore handing it over; two processes each run `_Restorer.write_lane` on their half of the
files, with their own threads, and only small messages cross between them: progress from the
child, and at the end its counts and in-place swaps.

If either half fails, the other is stopped (the child at its next finished file) and neither
leaves temporaries behind; the error raised is the first one. Only for a local repository
(`forked.usable`) and a restore big enough to be worth a process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from clawkeeper.backup import forked
from clawkeeper.backup.progress import Reporter
from clawkeeper.backup.restore_list import sizes_of, subset
from clawkeeper.backup.tree import Entry

if TYPE_CHECKING:
    from clawkeeper.backup.repository import Repository
    from clawkeeper.backup.restore import DirFds, _Restorer

FORK_MIN_BYTES = 32 * 1024 * 1024  # below this a second process costs more than it saves
# What a file costs to restore, roughly, from per-process CPU times on the benchmark corpus
# (2 vCPUs): bytes dominate (~3 ms per MiB: decrypt, hash, decompress, the kernel's copy), then
# chunks (a database is 25,000 of them) and files created and finished.
COST_PER_BYTE = 3e-3 / 2**20
COST_PER_FILE = 0.1e-3
COST_PER_CHUNK = 10e-6
PROGRESS_EVERY_S = 0.1


class LaneStopped(Exception):
    """The other half failed: this one stops at its next finished file."""


@dataclass
class LaneDone:
    files: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    databases: dict[str, str] = field(default_factory=dict)  # quick_check results, as written
    swaps: list[tuple[int, str]] = field(default_factory=list)  # index in the lane, temporary name


@dataclass
class _Job:
    restorer: _Restorer
    files: Sequence[Entry]
    dirs: DirFds
    progress: Connection
    stop: Any  # a multiprocessing Event


def restore_cost(entry: Entry) -> float:
    """Estimated seconds to restore `entry` (see COST_PER_*)."""
    return COST_PER_FILE + entry.size * COST_PER_BYTE + entry.chunk_count * COST_PER_CHUNK


def split_balanced(
    files: Sequence[Entry], weight: Callable[[Entry], float]
) -> tuple[Sequence[Entry], Sequence[Entry]]:
    """Two lanes of about equal weight, each in the original (path) order.

    Heaviest first, each file to the lighter lane: a contiguous cut would leave a 300 MB model
    straddling the middle on one side."""
    lanes: tuple[list[int], list[int]] = ([], [])
    loads = [0.0, 0.0]
    weights = [weight(entry) for entry in files]
    for i in sorted(range(len(files)), key=weights.__getitem__, reverse=True):
        lighter = 0 if loads[0] <= loads[1] else 1
        lanes[lighter].append(i)
        loads[lighter] += weights[i]
    first, second = (sorted(lane) for lane in lanes)
    return subset(files, first), subset(files, second)


class _Inbox:
    """Reads the child's progress messages as they come (so its pipe never fills and stalls it,
    however long this process spends on one file) and hands their sum to the reporter whenever
    this process reports its own."""

    def __init__(self, receive: Connection) -> None:
        self._receive = receive
        self._lock = threading.Lock()
        self._bytes = self._items = 0
        self._current: str | None = None
        self._thread = threading.Thread(target=self._read, name="restore-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _read(self) -> None:
        while True:
            try:
                message = self._receive.recv()
            except (EOFError, OSError):
                return
            if message is None:
                return
            nbytes, items, current = message
            with self._lock:
                self._bytes += nbytes
                self._items += items
                self._current = current or self._current

    def relay(self, reporter: Reporter) -> None:
        with self._lock:
            nbytes, items, current = self._bytes, self._items, self._current
            self._bytes = self._items = 0
        if nbytes or items:
            reporter.advance(nbytes, items, current)


def worth_forking(repo: Repository, files: Sequence[Entry]) -> bool:
    return forked.usable(repo.target, 2) and len(files) > 1 and sum(sizes_of(files)) >= FORK_MIN_BYTES


def write_in_two_processes(
    restorer: _Restorer, files: Sequence[Entry], dirs: DirFds, reporter: Reporter
) -> list[tuple[Entry, str]]:
    mine, theirs = split_balanced(files, restore_cost)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    stop = context.Event()
    inbox = _Inbox(receive)

    def advance(nbytes: int, items: int, current: str) -> None:
        reporter.advance(nbytes, items, current)
        inbox.relay(reporter)

    with forked.pool(1, _Job(restorer, theirs, dirs, send, stop)) as executor:
        other = executor.submit(_other_lane)
        inbox.start()  # after the fork: the child must not inherit the reading thread
        try:
            try:
                swaps = restorer.write_lane(mine, dirs, advance)
            except BaseException:
                stop.set()
                with contextlib.suppress(Exception):  # its own failure, if any, is not the first
                    done = other.result()
                    restorer.discard([(theirs[i], temp) for i, temp in done.swaps], dirs)
                raise
            while not other.done():
                futures_wait([other], timeout=PROGRESS_EVERY_S)  # returns, never raises
                inbox.relay(reporter)
            try:
                done = other.result()
            except BaseException:
                restorer.discard(swaps, dirs)
                raise
        finally:
            send.send(None)  # the child is done: let the reading thread end
            inbox.join()
        inbox.relay(reporter)
    restorer.result.files += done.files
    restorer.result.bytes += done.bytes
    restorer.result.warnings.extend(done.warnings)
    restorer.result.databases.update(done.databases)
    return swaps + [(theirs[i], temp) for i, temp in done.swaps]


def _other_lane() -> LaneDone:
    """In the forked process: write the second half, report progress, return counts and swaps."""
    job = forked.state()
    assert isinstance(job, _Job)  # noqa: S101 - set by write_in_two_processes before the fork
    result = job.restorer.result
    files_before, bytes_before, warnings_before = result.files, result.bytes, len(result.warnings)
    databases_before = set(result.databases)
    pending = [0, 0]
    last = time.monotonic()

    def advance(nbytes: int, items: int, current: str) -> None:
        nonlocal last
        if job.stop.is_set():
            raise LaneStopped("the other half of the restore failed")
        pending[0] += nbytes
        pending[1] += items
        now = time.monotonic()
        if now - last >= PROGRESS_EVERY_S:
            job.progress.send((pending[0], pending[1], current))
            pending[0] = pending[1] = 0
            last = now

    swaps = job.restorer.write_lane(job.files, job.dirs, advance)
    job.progress.send((pending[0], pending[1], None))
    position = {entry.path: i for i, entry in enumerate(job.files)} if swaps else {}
    return LaneDone(
        files=result.files - files_before,
        bytes=result.bytes - bytes_before,
        warnings=result.warnings[warnings_before:],
        databases={k: v for k, v in result.databases.items() if k not in databases_before},
        swaps=[(position[entry.path], temp) for entry, temp in swaps],
    )
