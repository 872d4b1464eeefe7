"""The retrying wrapper and the read-ahead windows, over small fakes."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from clawkeeper.backup.targets import LocalTarget, ObjectMissing, TargetError
from clawkeeper.backup.targets.readahead import ReadWindows
from clawkeeper.backup.targets.retry import RetryingTarget, TargetUnreachable


class FlakyTarget(LocalTarget):
    """A local target whose next `failures` calls fail as if the connection dropped; with
    `lose_answer`, the failing call does its work first (the answer is what gets lost)."""

    def __init__(self, root: Path, failures: int, *, lose_answer: bool = False) -> None:
        super().__init__(root)
        self.failures = failures
        self.lose_answer = lose_answer
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise TargetUnreachable("connection reset", hint="check the network")

    def read(self, name: str) -> bytes:
        self._maybe_fail()
        return super().read(name)

    def create_exclusive(self, name: str, data: bytes) -> bool:
        if self.lose_answer and self.failures > 0:
            super().create_exclusive(name, data)
        self._maybe_fail()
        return super().create_exclusive(name, data)


def no_sleep(_s: float) -> None:
    return None


def test_unreachable_calls_are_retried_until_they_succeed(tmp_path: Path) -> None:
    inner = FlakyTarget(tmp_path, failures=2)
    inner.write("config", b"x")
    pauses: list[float] = []
    target = RetryingTarget(inner, attempts=4, first_pause_s=0.5, sleep=pauses.append)
    assert target.read("config") == b"x"
    assert inner.calls == 3 and pauses == [0.5, 1.0]


def test_retries_are_bounded_and_the_last_error_surfaces(tmp_path: Path) -> None:
    inner = FlakyTarget(tmp_path, failures=10)
    target = RetryingTarget(inner, attempts=3, sleep=no_sleep)
    with pytest.raises(TargetUnreachable, match="connection reset"):
        target.read("config")
    assert inner.calls == 3


def test_final_errors_are_not_retried(tmp_path: Path) -> None:
    inner = FlakyTarget(tmp_path, failures=0)
    target = RetryingTarget(inner, attempts=4, sleep=no_sleep)
    with pytest.raises(ObjectMissing):
        target.read("nothing-here")
    assert inner.calls == 1


def test_a_create_whose_answer_was_lost_is_still_ours(tmp_path: Path) -> None:
    inner = FlakyTarget(tmp_path, failures=1, lose_answer=True)
    target = RetryingTarget(inner, sleep=no_sleep)
    assert target.create_exclusive("locks/prune", b"me") is True
    assert target.create_exclusive("locks/prune", b"me") is False  # a plain second try is refused


def test_a_lost_answer_does_not_steal_someone_elses_object(tmp_path: Path) -> None:
    LocalTarget(tmp_path).create_exclusive("locks/prune", b"someone else")
    inner = FlakyTarget(tmp_path, failures=1)
    target = RetryingTarget(inner, sleep=no_sleep)
    assert target.create_exclusive("locks/prune", b"me") is False
    assert inner.read("locks/prune") == b"someone else"


def test_unreachable_is_a_target_error_with_exit_code_7() -> None:
    error = TargetUnreachable("x", hint="y")
    assert isinstance(error, TargetError) and int(error.exit_code) == 7


class CountingObject:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.fetches: list[tuple[int, int]] = []

    def fetch(self, _name: str, offset: int, length: int) -> bytes:
        self.fetches.append((offset, length))
        return self.data[offset : offset + length]


def test_neighbouring_ranges_are_served_from_one_window() -> None:
    blob = os.urandom(100_000)
    source = CountingObject(blob)
    windows = ReadWindows(source.fetch, window=32_768, windows=2)
    for offset in range(0, 30_000, 4096):
        assert windows.read("data/p", offset, 2048) == blob[offset : offset + 2048]
    assert source.fetches == [(0, 32_768)]
    assert windows.read("data/p", 40_000, 100) == blob[40_000:40_100]
    assert source.fetches == [(0, 32_768), (32_768, 32_768)]


def test_a_range_across_a_window_boundary_joins_two_windows() -> None:
    blob = os.urandom(100_000)
    source = CountingObject(blob)
    windows = ReadWindows(source.fetch, window=32_768)
    assert windows.read("data/p", 30_000, 10_000) == blob[30_000:40_000]
    assert source.fetches == [(0, 32_768), (32_768, 32_768)]


def test_windows_near_the_end_come_back_short_like_the_object() -> None:
    blob = os.urandom(10_000)
    windows = ReadWindows(CountingObject(blob).fetch, window=8192)
    assert windows.read("data/p", 7_000, 2_000) == blob[7_000:9_000]
    assert windows.read("data/p", 9_800, 500) == blob[9_800:]  # short: the caller reports truncation
    assert windows.read("data/p", 20_000, 10) == b""


def test_large_reads_bypass_the_cache_and_old_windows_are_evicted() -> None:
    blob = os.urandom(200_000)
    source = CountingObject(blob)
    windows = ReadWindows(source.fetch, window=10_000, windows=2)
    assert windows.read("data/p", 0, 50_000) == blob[:50_000]
    for offset in (0, 20_000, 40_000, 0):
        windows.read("data/p", offset, 10)
    assert source.fetches == [(0, 50_000), (0, 10_000), (20_000, 10_000), (40_000, 10_000), (0, 10_000)]
    windows.forget("data/p")
    windows.read("data/p", 40_005, 10)
    assert source.fetches[-1] == (40_000, 10_000)


def test_threads_wanting_the_same_window_fetch_it_once() -> None:
    blob = os.urandom(64_000)
    gate = threading.Event()
    fetches: list[int] = []

    def slow_fetch(_name: str, offset: int, length: int) -> bytes:
        fetches.append(offset)
        gate.wait(10)
        return blob[offset : offset + length]

    windows = ReadWindows(slow_fetch, window=32_768)
    results: dict[int, bytes] = {}
    threads = [
        threading.Thread(target=lambda n=n: results.__setitem__(n, windows.read("data/p", n * 1000, 500)))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # let them all ask; the test holds without it, just proves less
    gate.set()
    for thread in threads:
        thread.join(10)
    assert fetches == [0]
    assert all(results[n] == blob[n * 1000 : n * 1000 + 500] for n in range(8))


def test_a_failed_fetch_leaves_nothing_behind() -> None:
    blob = os.urandom(40_000)
    calls: list[int] = []

    def failing_once(_name: str, offset: int, length: int) -> bytes:
        calls.append(offset)
        if len(calls) == 1:
            raise TargetUnreachable("connection reset")
        return blob[offset : offset + length]

    windows = ReadWindows(failing_once, window=32_768)
    with pytest.raises(TargetUnreachable):
        windows.read("data/p", 0, 10)
    assert windows.read("data/p", 0, 10) == blob[:10]
