"""The keeper: one loop that runs the collectors, the rules, the notifications and the schedule.

Timing is event-driven: the loop sleeps until the next thing is due (a collector's interval, the
rule evaluation, store maintenance, a scheduled job) or until a collector finishes, so an idle
keeper costs almost nothing. Collectors run on a small thread pool (a slow one, such as the RPC
collector that spawns the agent's CLI, never delays the others); every store write happens on the
loop's thread. A collector that raises has its metrics marked stale and is retried at its next
interval; nothing a collector, a notifier or a job does can stop the loop.

`request_stop()` (SIGTERM) drains: no new collections or jobs start, running collectors finish,
running jobs get `drain_grace_s` to finish before they are terminated, a last evaluation and
notification tick run, and the loop returns.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from clawkeeper.monitor.model import (
    Alert,
    AlertState,
    CollectContext,
    Collector,
    CollectorStatus,
    MetricKind,
    MetricReader,
    MetricWriter,
    Sample,
    labels_of,
)

MAINTENANCE_INTERVAL_S = 60.0


class Store(MetricReader, MetricWriter, Protocol):
    def maintain(self, now: float) -> object: ...


class Evaluator(Protocol):
    def evaluate(self, reader: MetricReader, now: float) -> Sequence[Alert]:
        """Evaluate every rule at `now`; return the current pending/firing/just-resolved alerts."""
        ...


class Notifications(Protocol):
    def tick(self, alerts: Sequence[Alert], now: float) -> Sequence[object]: ...


class Schedule(Protocol):
    def tick(self, now: float) -> None:
        """Start due jobs (in the background) and reap finished ones."""
        ...

    def next_due(self, now: float) -> float | None: ...

    def request_stop(self, grace_s: float) -> None: ...

    def status(self) -> list[dict[str, Any]]: ...


@dataclass
class _CollectorSlot:
    collector: Collector
    interval_s: float
    next_due: float
    running: Future[list[Sample]] | None = None
    started: float | None = None
    status: CollectorStatus | None = None
    errors: int = 0


@dataclass
class KeeperSnapshot:
    """What the live view, `/healthz` and `--json` show about the keeper itself."""

    started_at: float
    now: float
    ticks: int
    last_tick: float | None
    interval_s: float
    collectors: list[CollectorStatus]
    alerts: list[Alert]
    jobs: list[dict[str, Any]]
    stopping: bool
    notifications_sent: int = 0
    notification_failures: int = 0
    last_evaluation: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """The loop is turning: its last tick is no older than three intervals."""
        return self.last_tick is not None and self.now - self.last_tick <= 3 * self.interval_s

    def to_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "started_at": self.started_at,
            "uptime_s": round(self.now - self.started_at, 3),
            "ticks": self.ticks,
            "last_tick": self.last_tick,
            "last_evaluation": self.last_evaluation,
            "interval_s": self.interval_s,
            "stopping": self.stopping,
            "collectors": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "last_run": c.last_run,
                    "duration_s": c.duration_s,
                    "samples": c.samples,
                    "error": c.error,
                    "stale_metrics": list(c.stale_metrics),
                }
                for c in self.collectors
            ],
            "alerts": [
                {
                    "name": a.name,
                    "state": a.state.value,
                    "labels": a.label_map,
                    "value": a.value,
                    "active_since": a.active_since,
                    "fired_at": a.fired_at,
                    "silenced_by": a.silenced_by,
                }
                for a in self.alerts
            ],
            "jobs": self.jobs,
            "notifications_sent": self.notifications_sent,
            "notification_failures": self.notification_failures,
            "errors": self.errors[-20:],
        }


class Keeper:
    """Runs until `request_stop()`; call `run()` on the thread that owns the store."""

    def __init__(
        self,
        *,
        store: Store,
        collectors: Sequence[tuple[Collector, float]],
        evaluator: Evaluator | None,
        notifications: Notifications | None,
        schedule: Schedule | None,
        interval_s: float,
        evaluation_interval_s: float | None = None,
        drain_grace_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        max_workers: int = 3,
        on_tick: Callable[[KeeperSnapshot], None] | None = None,
    ) -> None:
        self._store = store
        self._evaluator = evaluator
        self._notifications = notifications
        self._schedule = schedule
        self._interval = interval_s
        self._eval_interval = evaluation_interval_s or interval_s
        self._drain_grace = drain_grace_s
        self._clock = clock
        self._on_tick = on_tick
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="collector")
        start = clock()
        self._started_at = start
        # collectors due together start together: one wake-up per interval, not one per collector
        self._slots = [_CollectorSlot(c, interval, next_due=start) for c, interval in collectors]
        self._next_eval = start + min(self._eval_interval, 2.0)
        self._next_maintenance = start + MAINTENANCE_INTERVAL_S
        self._ticks = 0
        self._last_tick: float | None = None
        self._last_eval: float | None = None
        self._alerts: list[Alert] = []
        self._sent = 0
        self._failed = 0
        self._errors: list[str] = []
        self._lock = threading.Lock()

    # --- control -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def snapshot(self) -> KeeperSnapshot:
        with self._lock:
            return KeeperSnapshot(
                started_at=self._started_at,
                now=self._clock(),
                ticks=self._ticks,
                last_tick=self._last_tick,
                interval_s=self._interval,
                collectors=[
                    s.status or CollectorStatus(s.collector.name, True, None, None) for s in self._slots
                ],
                alerts=list(self._alerts),
                jobs=self._schedule.status() if self._schedule is not None else [],
                stopping=self._stop.is_set(),
                notifications_sent=self._sent,
                notification_failures=self._failed,
                last_evaluation=self._last_eval,
                errors=list(self._errors),
            )

    def collect_all(self) -> None:
        """Start every collector that isn't already running, now (`clawkeeper up --once`)."""
        now = self._clock()
        for slot in self._slots:
            if slot.running is None:
                self._launch(slot, now)

    def collecting(self) -> bool:
        """True while any collection is in flight (harvests finished ones first)."""
        self._harvest(self._clock())
        return any(s.running is not None for s in self._slots)

    def evaluate_now(self) -> None:
        """Harvest finished collections and evaluate the rules at once (`clawkeeper up --once`)."""
        now = self._clock()
        self._harvest(now)
        self._evaluate(now)

    def current_alerts(self) -> list[Alert]:
        with self._lock:
            return list(self._alerts)

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> KeeperSnapshot:
        try:
            while not self._stop.is_set():
                self.tick()
                self._sleep_until_next()
            self._drain()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return self.snapshot()

    def tick(self) -> None:
        """One pass: harvest finished collectors, evaluate and notify, start due collectors, schedule.

        The rules are evaluated on the samples just harvested, never while this round's
        collections are still in flight, so an alert's delay is its `for`, not `for` + an interval.
        """
        now = self._clock()
        self._harvest(now)
        if now >= self._next_eval and not self._fresh_collections_running(now):
            self._evaluate(now)
            self._next_eval = now + self._eval_interval
        if not self._stop.is_set():
            for slot in self._slots:
                if slot.running is None and now >= slot.next_due:
                    self._launch(slot, now)
        if now >= self._next_maintenance:
            self._guard("store maintenance", self._store.maintain, now)
            self._next_maintenance = now + MAINTENANCE_INTERVAL_S
        if self._schedule is not None and not self._stop.is_set():
            self._guard("schedule", self._schedule.tick, now)
        with self._lock:
            self._ticks += 1
            self._last_tick = now
        if self._on_tick is not None:
            self._guard("live view", self._on_tick, self.snapshot())

    def _fresh_collections_running(self, now: float) -> bool:
        """A collection of this round is due or still in flight: evaluating now would use the
        previous round's samples and delay every alert by an interval. Slow collectors (a CLI
        spawn) and collections running longer than half an interval don't hold it back."""
        limit = min(self._interval / 2, 5.0)
        started_before = time.monotonic() - limit
        for slot in self._slots:
            if slot.interval_s > self._eval_interval:
                continue
            if slot.running is None and now >= slot.next_due and not self._stop.is_set():
                return True
            if slot.running is not None and (slot.started or 0.0) >= started_before:
                return True
        return False

    def _next_wakeup(self, now: float) -> float:
        candidates = [self._next_eval, self._next_maintenance]
        candidates += [s.next_due for s in self._slots if s.running is None]
        if self._schedule is not None:
            due = self._schedule.next_due(now)
            if due is not None:
                candidates.append(due)
        return min(candidates)

    def _sleep_until_next(self) -> None:
        now = self._clock()
        delay = max(0.0, min(self._next_wakeup(now) - now, self._interval))
        running = [s.running for s in self._slots if s.running is not None]
        if running:
            wait(running, timeout=delay, return_when=FIRST_COMPLETED)
            if self._stop.is_set():
                return
            # a collector finished early: harvest it now, but don't spin on a tiny delay
        else:
            self._wake.wait(timeout=delay)
            self._wake.clear()

    def _launch(self, slot: _CollectorSlot, now: float) -> None:
        ctx = CollectContext(now=now, interval_s=slot.interval_s)
        slot.started = time.monotonic()
        slot.running = self._pool.submit(slot.collector.collect, ctx)
        slot.next_due = now + slot.interval_s

    def _harvest(self, now: float) -> None:
        for slot in self._slots:
            future = slot.running
            if future is None or not future.done():
                continue
            slot.running = None
            duration = time.monotonic() - (slot.started or time.monotonic())
            name = slot.collector.name
            error = future.exception()
            if error is None:
                samples = future.result()
                self._guard(f"store write ({name})", self._store.write, samples)
                slot.status = CollectorStatus(name, True, now, duration, samples=len(samples))
            else:
                slot.errors += 1
                reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                metric_names = [m.name for m in slot.collector.metrics]
                self._guard(f"mark stale ({name})", self._store.mark_stale, name, metric_names, now, reason)
                slot.status = CollectorStatus(
                    name, False, now, duration, error=reason, stale_metrics=tuple(metric_names)
                )
            self._store_keeper_sample(slot, now, duration, ok=error is None)

    def _store_keeper_sample(self, slot: _CollectorSlot, now: float, duration: float, *, ok: bool) -> None:
        labels = labels_of(collector=slot.collector.name)
        samples = [
            Sample("keeper_collector_duration_seconds", round(duration, 6), now, labels),
            Sample("keeper_collector_stale", 0.0 if ok else 1.0, now, labels),
            Sample("keeper_collector_errors_total", float(slot.errors), now, labels, MetricKind.COUNTER),
        ]
        self._guard("store write (keeper)", self._store.write, samples)

    def _evaluate(self, now: float) -> None:
        if self._evaluator is None:
            return
        evaluator = self._evaluator
        alerts = self._guard("rule evaluation", lambda: list(evaluator.evaluate(self._store, now)))
        if alerts is None:
            return
        with self._lock:
            self._alerts = [a for a in alerts if a.state is not AlertState.INACTIVE]
            self._last_eval = now
        if self._notifications is not None:
            notifications = self._notifications
            results = self._guard("notifications", lambda: list(notifications.tick(alerts, now)))
            for result in results or []:
                ok = bool(getattr(result, "ok", True))
                with self._lock:
                    if ok:
                        self._sent += 1
                    else:
                        self._failed += 1
                        self._remember(f"notification failed: {getattr(result, 'error', '')}")

    def _drain(self) -> None:
        deadline = time.monotonic() + self._drain_grace
        if self._schedule is not None:
            self._guard("schedule drain", self._schedule.request_stop, self._drain_grace)
        running = [s.running for s in self._slots if s.running is not None]
        if running:
            wait(running, timeout=max(0.0, deadline - time.monotonic()))
        now = self._clock()
        self._harvest(now)
        self._evaluate(now)
        with self._lock:
            self._last_tick = now

    # --- errors --------------------------------------------------------------------------------

    def _guard(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """Run `call(*args)`; an exception is remembered (shown in the live view), never propagated."""
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - the loop must survive any part failing
            self._remember(f"{what}: {type(exc).__name__}: {exc}")
            return None

    def _remember(self, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with contextlib.suppress(Exception):
            self._errors.append(f"{stamp} {message}")
            del self._errors[:-50]
