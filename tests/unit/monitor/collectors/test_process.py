"""The gateway process collector and PID discovery, against real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from clawkeeper.agent.sandbox.procscan import start_ticks
from clawkeeper.monitor.collectors.gateway_pid import FoundPid, from_lock_file, read_lock
from clawkeeper.monitor.collectors.process import ProcessCollector
from tests.unit.monitor.collectors.helpers import ctx, value


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A child process standing in for the gateway; stopped by its PID afterwards."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)


def test_a_found_gateway_reports_memory_threads_and_then_cpu() -> None:
    collector = ProcessCollector(lambda: FoundPid(os.getpid(), "test"))
    first = collector.collect(ctx())
    assert value(first, "gateway_process_up") == 1
    assert (value(first, "gateway_process_rss_bytes") or 0) > 0
    assert (value(first, "gateway_process_threads") or 0) >= 1
    assert (value(first, "gateway_process_open_fds") or 0) >= 3
    assert value(first, "gateway_process_start_time_seconds") == pytest.approx(psutil.Process().create_time())
    assert value(first, "gateway_process_cpu_percent") is None  # needs two runs
    sum(i * i for i in range(200_000))  # burn a little CPU
    second = collector.collect(ctx())
    cpu = value(second, "gateway_process_cpu_percent")
    assert cpu is not None and cpu >= 0
    assert value(second, "gateway_process_restarts_total") == 0


def test_no_gateway_is_up_0(sleeper: subprocess.Popen[bytes]) -> None:
    collector = ProcessCollector(lambda: None)
    samples = collector.collect(ctx())
    assert value(samples, "gateway_process_up") == 0
    assert value(samples, "gateway_process_restarts_total") == 0
    assert value(samples, "gateway_process_rss_bytes") is None


def test_the_pid_is_cached_and_a_new_process_counts_as_a_restart(sleeper: subprocess.Popen[bytes]) -> None:
    current = {"pid": sleeper.pid}
    lookups: list[int] = []

    def finder() -> FoundPid | None:
        lookups.append(current["pid"])
        return FoundPid(current["pid"], "test")

    collector = ProcessCollector(finder)
    assert value(collector.collect(ctx()), "gateway_process_up") == 1
    collector.collect(ctx())
    assert len(lookups) == 1  # cached while the process lives
    sleeper.kill()
    sleeper.wait(timeout=10)
    replacement = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        current["pid"] = replacement.pid
        samples = collector.collect(ctx())
        assert value(samples, "gateway_process_up") == 1
        assert value(samples, "gateway_process_restarts_total") == 1
        assert len(lookups) == 2
    finally:
        replacement.kill()
        replacement.wait(timeout=10)


def test_a_gateway_down_in_between_still_counts_one_restart(sleeper: subprocess.Popen[bytes]) -> None:
    found: dict[str, FoundPid | None] = {"value": FoundPid(sleeper.pid, "test")}
    collector = ProcessCollector(lambda: found["value"])
    collector.collect(ctx())
    found["value"] = None
    sleeper.kill()
    sleeper.wait(timeout=10)
    assert value(collector.collect(ctx()), "gateway_process_up") == 0
    found["value"] = FoundPid(os.getpid(), "test")
    assert value(collector.collect(ctx()), "gateway_process_restarts_total") == 1


def write_lock(state_dir: Path, pid: int, ticks: int | None) -> Path:
    lock = state_dir / "tmp" / "openclaw-0" / "gateway.state.lock"
    lock.parent.mkdir(parents=True)
    body = {"pid": pid, "ownerId": "x", "port": 18789, **({"startTime": ticks} if ticks is not None else {})}
    lock.write_text(json.dumps(body, indent=2) + "\n\t\t \t\n")  # OpenClaw pads the file with whitespace
    return lock


def test_the_gateway_lock_file_gives_the_pid(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    write_lock(tmp_path, sleeper.pid, start_ticks(sleeper.pid))
    assert from_lock_file(tmp_path, lambda: []) == FoundPid(sleeper.pid, "lock file")


def test_a_lock_from_a_pid_namespace_is_matched_by_start_time(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    # inside its namespace the gateway is pid 65; on the host it is the sleeper, same start time
    write_lock(tmp_path, 65, start_ticks(sleeper.pid))
    candidates = [psutil.Process(os.getpid()), psutil.Process(sleeper.pid)]
    assert from_lock_file(tmp_path, lambda: candidates) == FoundPid(sleeper.pid, "lock file")


def test_a_stale_lock_finds_nothing(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    ticks = start_ticks(sleeper.pid)
    assert ticks is not None
    write_lock(tmp_path, sleeper.pid, ticks + 12345)  # the PID was reused by another process
    assert from_lock_file(tmp_path, lambda: [psutil.Process(sleeper.pid)]) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"pid": 7319, "startTime": 1132031}', (7319, 1132031)),
        ('{"pid": 7319}', (7319, None)),
        ('{"pid": true}', None),
        ("", None),
        ("garbage", None),
    ],
)
def test_read_lock(tmp_path: Path, text: str, parsed: tuple[int, int | None] | None) -> None:
    lock = tmp_path / "gateway.state.lock"
    lock.write_text(text)
    assert read_lock(lock) == parsed
