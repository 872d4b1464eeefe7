"""`keeper`: the keeper daemon itself — up, CPU and memory — to hold it to its budget (1% of one
core and 100 MB at a 10 s interval). CPU is this process's own user+system time between two
runs, in % of one core; the CLI commands the RPC collector and scheduled jobs spawn are their own
processes and not included. The daemon adds `keeper_collector_*` per collector itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import psutil

from clawkeeper.monitor.collectors.base import gauge, info
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

MIN_CPU_WINDOW_S = 1.0

METRICS: tuple[MetricInfo, ...] = (
    info("keeper_up", "1 while the keeper runs."),
    info(
        "keeper_cpu_percent",
        "The keeper's own CPU use since the previous run, % of one core.",
        unit="percent",
    ),
    info("keeper_rss_bytes", "The keeper's resident memory.", unit="bytes"),
)


class KeeperCollector:
    name = "keeper"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(
        self, process: psutil.Process | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._process = process or psutil.Process()
        self._clock = clock
        self._process.cpu_percent(interval=None)  # baseline: the first call always says 0.0
        self._cpu_at = clock()

    def collect(self, ctx: CollectContext) -> list[Sample]:
        out = [gauge("keeper_up", 1, ctx.now)]
        with self._process.oneshot():
            if self._clock() - self._cpu_at >= MIN_CPU_WINDOW_S:  # shorter windows are mostly noise
                out.append(gauge("keeper_cpu_percent", self._process.cpu_percent(interval=None), ctx.now))
                self._cpu_at = self._clock()
            out.append(gauge("keeper_rss_bytes", self._process.memory_info().rss, ctx.now))
        return out
