"""`process`: the gateway's OS process — up, CPU, memory, descriptors, threads, restarts.

The PID is found once (see `gateway_pid`) and cached together with the process start time; it is
looked for again only when that process is gone. A different process found afterwards counts as a
restart (`gateway_process_restarts_total`, since the keeper started). An in-process restart
(SIGUSR2, config reloads) keeps the PID and is not counted; `gateway_process_start_time_seconds`
moving does show a replaced process even across keeper restarts.

CPU is the process's user+system time between two runs over the wall time between them, in % of
one core (so a busy gateway on two cores can show up to 200); the first run after a (re)discovery
has no CPU sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import CounterSet, counter_info, gauge, info
from clawkeeper.monitor.collectors.gateway_pid import FoundPid, alive, find_gateway_pid
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

METRICS: tuple[MetricInfo, ...] = (
    info("gateway_process_up", "1 when the gateway's process was found, else 0."),
    info(
        "gateway_process_cpu_percent",
        "Gateway CPU use since the previous run, % of one core.",
        unit="percent",
    ),
    info("gateway_process_rss_bytes", "Gateway resident memory.", unit="bytes"),
    info("gateway_process_open_fds", "Open file descriptors of the gateway (needs the same user or root)."),
    info("gateway_process_threads", "Threads of the gateway process."),
    counter_info("gateway_process_restarts_total", "Times the keeper saw the gateway's process replaced."),
    info(
        "gateway_process_start_time_seconds", "When the gateway process started (Unix time).", unit="seconds"
    ),
)

Finder = Callable[[], FoundPid | None]


@dataclass
class _Tracked:
    process: psutil.Process
    identity: tuple[int, float]  # pid, create time
    how: str
    cpu_total: float | None = None  # user+system seconds at the previous run
    at: float | None = None  # monotonic time of the previous run


class ProcessCollector:
    name = "process"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(self, finder: Finder, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._find = finder
        self._clock = clock
        self._tracked: _Tracked | None = None
        self._last_identity: tuple[int, float] | None = None
        self._counters = CounterSet()
        self._counters.declare("gateway_process_restarts_total")

    @classmethod
    def for_agent(cls, link: AgentLink) -> ProcessCollector:
        def finder() -> FoundPid | None:
            target = link.target()  # raises AgentNotFound: the metrics go stale, not "down"
            return find_gateway_pid(target, link.settings.lab, link.state_dir(), link.config)

        return cls(finder)

    @property
    def pid(self) -> int | None:
        """The PID of the process being watched, if one is."""
        return self._tracked.identity[0] if self._tracked else None

    @property
    def found_by(self) -> str | None:
        """How the current process was found ("lab", "lock file", "port", "title"), for diagnostics."""
        return self._tracked.how if self._tracked else None

    def _current(self) -> _Tracked | None:
        tracked = self._tracked
        if tracked is not None and _still_running(tracked.process):
            return tracked
        self._tracked = None
        found = self._find()
        if found is None:
            return None
        process = alive(found.pid)
        if process is None:
            return None
        try:
            identity = (process.pid, process.create_time())
        except psutil.Error:
            return None
        if self._last_identity is not None and identity != self._last_identity:
            self._counters.add("gateway_process_restarts_total")
        self._last_identity = identity
        self._tracked = _Tracked(process=process, identity=identity, how=found.how)
        return self._tracked

    def collect(self, ctx: CollectContext) -> list[Sample]:
        now = ctx.now
        tracked = self._current()
        out = self._counters.samples(now)
        if tracked is None:
            return [gauge("gateway_process_up", 0, now), *out]
        process = tracked.process
        try:
            with process.oneshot():
                times = process.cpu_times()
                rss = process.memory_info().rss
                threads = process.num_threads()
                fds = _optional(process.num_fds)
        except psutil.NoSuchProcess:
            self._tracked = None
            return [gauge("gateway_process_up", 0, now), *out]
        at = self._clock()
        cpu_total = times.user + times.system
        out += [
            gauge("gateway_process_up", 1, now),
            gauge("gateway_process_rss_bytes", rss, now),
            gauge("gateway_process_threads", threads, now),
            gauge("gateway_process_start_time_seconds", tracked.identity[1], now),
        ]
        if fds is not None:
            out.append(gauge("gateway_process_open_fds", fds, now))
        if tracked.cpu_total is not None and tracked.at is not None and at > tracked.at:
            percent = max(0.0, cpu_total - tracked.cpu_total) / (at - tracked.at) * 100.0
            out.append(gauge("gateway_process_cpu_percent", percent, now))
        tracked.cpu_total, tracked.at = cpu_total, at
        return out


def _still_running(process: psutil.Process) -> bool:
    """Same process (psutil compares the start time, so a reused PID is not it) and not a zombie."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _optional(read: Callable[[], int]) -> int | None:
    try:
        return read()
    except (psutil.AccessDenied, AttributeError):  # AttributeError: num_fds is POSIX-only
        return None
