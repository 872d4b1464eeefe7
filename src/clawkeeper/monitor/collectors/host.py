"""`host`: the machine the agent runs on — CPU, load, memory, swap, disk space, disk and network I/O.

Rates (CPU %, disk and network bytes/s) are deltas between two runs, so the first run after start
reports none of them: the collector takes its baseline when it is built. Network rates leave out
loopback (the gateway talking to itself and to the keeper is not traffic). Disk space is reported
per filesystem for `/` and the agent's state directory (or `monitor.collectors.disk_paths`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from clawkeeper.monitor.collectors.base import gauge, info
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

METRICS: tuple[MetricInfo, ...] = (
    info("host_cpu_percent", "Whole-host CPU busy share since the previous run, 0..100.", unit="percent"),
    info("host_load1", "1-minute load average."),
    info("host_load5", "5-minute load average."),
    info("host_load15", "15-minute load average."),
    info("host_memory_used_percent", "Memory in use: 100*(total-available)/total.", unit="percent"),
    info("host_memory_available_bytes", "Memory available to new work without swapping.", unit="bytes"),
    info("host_memory_total_bytes", "Physical memory.", unit="bytes"),
    info("host_swap_used_percent", "Swap in use (0 when there is no swap).", unit="percent"),
    info(
        "host_disk_used_percent",
        "Space used on the filesystem, as `df` shows it.",
        unit="percent",
        labels=("mountpoint",),
    ),
    info(
        "host_disk_free_bytes",
        "Space available to unprivileged users on the filesystem.",
        unit="bytes",
        labels=("mountpoint",),
    ),
    info("host_disk_read_bytes_per_second", "Bytes read from all disks per second.", unit="bytes"),
    info("host_disk_write_bytes_per_second", "Bytes written to all disks per second.", unit="bytes"),
    info(
        "host_network_receive_bytes_per_second",
        "Bytes received per second on all interfaces but loopback.",
        unit="bytes",
    ),
    info(
        "host_network_transmit_bytes_per_second",
        "Bytes sent per second on all interfaces but loopback.",
        unit="bytes",
    ),
)

LOOPBACK_PREFIXES = ("lo",)
MIN_CPU_WINDOW_S = 1.0


@dataclass(frozen=True)
class _IoSnapshot:
    at: float  # monotonic seconds
    disk_read: int | None
    disk_write: int | None
    net_recv: dict[str, int]
    net_sent: dict[str, int]


def mountpoint_of(path: Path, mountpoints: Sequence[str]) -> str:
    """The longest mount point that contains `path` ("/" when none is listed)."""
    resolved = str(path.resolve())
    best = "/"
    for mount in mountpoints:
        inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best = mount
    return best


def rate(previous: int | None, current: int | None, seconds: float) -> float | None:
    """Per-second rate of a cumulative counter; None when unknown or when the counter went back
    (a device disappeared or a counter wrapped): a negative rate is never right."""
    if previous is None or current is None or seconds <= 0 or current < previous:
        return None
    return (current - previous) / seconds


def _snapshot(clock: Callable[[], float]) -> _IoSnapshot:
    disk = psutil.disk_io_counters(perdisk=False, nowrap=True)
    nics = psutil.net_io_counters(pernic=True, nowrap=True)
    recv = {name: c.bytes_recv for name, c in nics.items() if not name.startswith(LOOPBACK_PREFIXES)}
    sent = {name: c.bytes_sent for name, c in nics.items() if not name.startswith(LOOPBACK_PREFIXES)}
    return _IoSnapshot(
        at=clock(),
        disk_read=disk.read_bytes if disk is not None else None,
        disk_write=disk.write_bytes if disk is not None else None,
        net_recv=recv,
        net_sent=sent,
    )


def _nic_rate(before: dict[str, int], after: dict[str, int], seconds: float) -> float | None:
    """Sum over the interfaces present both times (interfaces come and go: VPNs, containers)."""
    common = before.keys() & after.keys()
    if not common:
        return None
    rates = [rate(before[n], after[n], seconds) for n in common]
    known = [r for r in rates if r is not None]
    return sum(known) if known else None


class HostCollector:
    name = "host"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(
        self, disk_paths: Callable[[], Sequence[Path]], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`disk_paths` is asked on every run (the agent's state dir may only be known later)."""
        self._disk_paths = disk_paths
        self._clock = clock
        psutil.cpu_percent(interval=None)  # baseline: the first call always says 0.0
        self._cpu_at = clock()
        self._previous = _snapshot(clock)
        self._mounts: list[str] | None = None

    def _mountpoints(self) -> list[str]:
        if self._mounts is None:
            self._mounts = [p.mountpoint for p in psutil.disk_partitions(all=False)]
        return self._mounts

    def collect(self, ctx: CollectContext) -> list[Sample]:
        now = ctx.now
        out: list[Sample] = []
        if self._clock() - self._cpu_at >= MIN_CPU_WINDOW_S:  # shorter windows are mostly noise
            out.append(gauge("host_cpu_percent", psutil.cpu_percent(interval=None), now))
            self._cpu_at = self._clock()
        load1, load5, load15 = os.getloadavg()
        out += [
            gauge("host_load1", load1, now),
            gauge("host_load5", load5, now),
            gauge("host_load15", load15, now),
        ]
        memory = psutil.virtual_memory()
        used = 100.0 * (memory.total - memory.available) / memory.total if memory.total else 0.0
        out += [
            gauge("host_memory_used_percent", used, now),
            gauge("host_memory_available_bytes", memory.available, now),
            gauge("host_memory_total_bytes", memory.total, now),
        ]
        swap = psutil.swap_memory()
        out.append(gauge("host_swap_used_percent", swap.percent if swap.total else 0.0, now))
        out += self._disk_space(now)
        out += self._io_rates(now)
        return out

    def _disk_space(self, now: float) -> list[Sample]:
        out: list[Sample] = []
        seen: set[str] = set()
        for path in [Path("/"), *self._disk_paths()]:
            if not path.exists():
                continue
            mount = mountpoint_of(path, self._mountpoints())
            if mount in seen:
                continue
            seen.add(mount)
            usage = psutil.disk_usage(mount)
            out.append(gauge("host_disk_used_percent", usage.percent, now, mountpoint=mount))
            out.append(gauge("host_disk_free_bytes", usage.free, now, mountpoint=mount))
        return out

    def _io_rates(self, now: float) -> list[Sample]:
        current = _snapshot(self._clock)
        before, self._previous = self._previous, current
        seconds = current.at - before.at
        values = {
            "host_disk_read_bytes_per_second": rate(before.disk_read, current.disk_read, seconds),
            "host_disk_write_bytes_per_second": rate(before.disk_write, current.disk_write, seconds),
            "host_network_receive_bytes_per_second": _nic_rate(before.net_recv, current.net_recv, seconds),
            "host_network_transmit_bytes_per_second": _nic_rate(before.net_sent, current.net_sent, seconds),
        }
        return [gauge(name, value, now) for name, value in values.items() if value is not None]
