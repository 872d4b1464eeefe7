"""The host and keeper collectors against this machine (real psutil values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.monitor.collectors.host import HostCollector, mountpoint_of, rate
from clawkeeper.monitor.collectors.keeper import KeeperCollector
from tests.unit.monitor.collectors.helpers import ctx, value

EVERY_RUN = {
    "host_load1",
    "host_load5",
    "host_load15",
    "host_memory_used_percent",
    "host_memory_available_bytes",
    "host_memory_total_bytes",
    "host_swap_used_percent",
    "host_disk_used_percent",
    "host_disk_free_bytes",
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_host_metrics_of_this_machine(tmp_path: Path) -> None:
    clock = Clock()
    host = HostCollector(lambda: [tmp_path], clock=clock)
    first = host.collect(ctx())
    assert {s.name for s in first} >= EVERY_RUN
    assert value(first, "host_cpu_percent") is None  # no window yet: a rate needs two readings
    total = value(first, "host_memory_total_bytes") or 0
    assert 0 < (value(first, "host_memory_available_bytes") or 0) <= total
    assert 0 <= (value(first, "host_memory_used_percent") or -1) <= 100
    assert 0 <= (value(first, "host_disk_used_percent", mountpoint="/") or -1) <= 100
    clock.now += 10
    second = host.collect(ctx())
    cpu = value(second, "host_cpu_percent")
    assert cpu is not None and 0 <= cpu <= 100
    rates = [s for s in second if s.name.endswith("_bytes_per_second")]
    assert rates and all(s.value >= 0 for s in rates)


def test_one_sample_per_filesystem(tmp_path: Path) -> None:
    samples = HostCollector(lambda: [tmp_path, tmp_path / "missing", Path("/")]).collect(ctx())
    mounts = [s.label_map["mountpoint"] for s in samples if s.name == "host_disk_free_bytes"]
    assert len(mounts) == len(set(mounts))
    assert "/" in mounts


@pytest.mark.parametrize(
    ("path", "mounts", "expected"),
    [
        ("/home/claw/.openclaw", ["/", "/home"], "/home"),
        ("/homework", ["/", "/home"], "/"),
        ("/home", ["/", "/home"], "/home"),
        ("/var/lib/x", ["/"], "/"),
    ],
)
def test_mountpoint_of(path: str, mounts: list[str], expected: str) -> None:
    assert mountpoint_of(Path(path), mounts) == expected


@pytest.mark.parametrize(
    ("previous", "current", "seconds", "expected"),
    [(100, 600, 10.0, 50.0), (600, 100, 10.0, None), (None, 5, 10.0, None), (1, 2, 0.0, None)],
)
def test_rate_never_goes_negative(
    previous: int | None, current: int | None, seconds: float, expected: float | None
) -> None:
    assert rate(previous, current, seconds) == expected


def test_keeper_reports_itself() -> None:
    clock = Clock()
    keeper = KeeperCollector(clock=clock)
    first = keeper.collect(ctx())
    assert value(first, "keeper_up") == 1
    assert (value(first, "keeper_rss_bytes") or 0) > 10_000_000
    assert value(first, "keeper_cpu_percent") is None
    clock.now += 10
    assert value(keeper.collect(ctx()), "keeper_cpu_percent") is not None
