"""Builds a keeper from settings: the store, collectors, rules, notifications, exporter, schedule.

`open_keeper()` is what `clawkeeper up` runs; tests and the benchmark use it too, so they run the
same wiring a user does. Everything that can be wrong in the configuration (a bad apprise URL, a
rule file error, a non-loopback exporter without auth, a bad cron expression) fails here, before
anything starts, as one ConfigError line.

Each component gets its own SQLite connection to the monitor file: the exporter's scrapes run on
server threads, the dispatcher and the rule engine commit on the loop's thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clawkeeper.agent.adapter import AgentAdapter
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.effects.fs import ensure_dir
from clawkeeper.errors import ResourceConflict
from clawkeeper.monitor import db
from clawkeeper.monitor.collectors.registry import build_collectors
from clawkeeper.monitor.daemon import Keeper, KeeperSnapshot
from clawkeeper.monitor.exporter import Exporter
from clawkeeper.monitor.model import Collector
from clawkeeper.monitor.notify import Dispatcher, build_notifiers
from clawkeeper.monitor.rules.engine import EnginePolicy, RuleEngine
from clawkeeper.monitor.rules.loading import load_rules
from clawkeeper.monitor.rules.store import AlertStateStore
from clawkeeper.monitor.schedule.build import build_scheduler
from clawkeeper.monitor.schedule.scheduler import Scheduler
from clawkeeper.monitor.tsdb import TimeSeriesStore


@dataclass
class KeeperParts:
    keeper: Keeper
    store: TimeSeriesStore
    collectors: list[tuple[Collector, float]]
    exporter: Exporter | None
    scheduler: Scheduler | None
    rules: int
    notifiers: list[str]
    target_label: str | None
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()


@contextlib.contextmanager
def single_keeper(store_path: Path) -> Iterator[None]:
    """One keeper per monitor database: a second `clawkeeper up` is refused with the holder's PID."""
    lock_path = store_path.with_name(store_path.name + ".keeper.lock")
    ensure_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise ResourceConflict(
                f"another keeper (PID {holder}) already runs on {store_path}",
                hint="stop it first (`systemctl --user stop clawkeeper` or Ctrl-C), "
                "or give this one another monitor.store.path",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def open_keeper(
    settings: Settings,
    *,
    config_path: Path | None,
    target: OpenClawTarget | None,
    adapter: AgentAdapter | None,
    on_tick: Callable[[KeeperSnapshot], None] | None = None,
    with_schedule: bool = True,
    clock: Callable[[], float] = time.time,
    choice: str | None = None,
) -> KeeperParts:
    """Build every part (nothing runs yet except the exporter's listener). Raises ConfigError."""
    # httpx logs full URLs at INFO; a webhook URL may carry a token in its query
    logging.getLogger("httpx").setLevel(logging.WARNING)
    monitor = settings.monitor
    closers: list[Callable[[], object]] = []
    try:
        rule_set = load_rules(monitor)
        notifiers = build_notifiers(monitor.notify)
        store = TimeSeriesStore(monitor.store.path, settings=monitor.store, clock=clock)
        closers.append(store.close)
        alert_state = AlertStateStore.open(monitor.store.path)
        closers.append(alert_state.close)
        engine = RuleEngine(
            rule_set.rules, alert_state, clock, policy=EnginePolicy.from_settings(monitor.rules)
        )
        notify_conn = db.connect(monitor.store.path)
        closers.append(notify_conn.close)
        dispatcher = Dispatcher(notifiers, monitor.notify, notify_conn)
        collectors = build_collectors(settings, target, adapter, choice=choice)
        scheduler = (
            build_scheduler(settings, config_path=config_path, metrics=store, maintenance=None, clock=clock)
            if with_schedule
            else None
        )
        if scheduler is not None:
            closers.append(scheduler.close)
        keeper = Keeper(
            store=store,
            collectors=collectors,
            evaluator=engine,
            notifications=dispatcher,
            schedule=scheduler,
            interval_s=monitor.interval,
            evaluation_interval_s=monitor.rules.evaluation_interval,
            drain_grace_s=monitor.schedule.drain_grace,
            clock=clock,
            on_tick=on_tick,
        )
        exporter: Exporter | None = None
        if monitor.exporter.enabled:
            exporter_reader = TimeSeriesStore(monitor.store.path, settings=monitor.store, clock=clock)
            closers.append(exporter_reader.close)
            slowest = max((interval for _, interval in collectors), default=monitor.interval)
            exporter = Exporter(
                monitor.exporter,
                reader=exporter_reader,
                alerts=keeper.current_alerts,
                health=keeper.snapshot,
                metric_info=[m for c, _ in collectors for m in c.metrics],
                max_age_s=max(2 * slowest, 3 * monitor.interval),
            )
            exporter.start()
            closers.append(exporter.stop)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        raise
    return KeeperParts(
        keeper=keeper,
        store=store,
        collectors=list(collectors),
        exporter=exporter,
        scheduler=scheduler,
        rules=len(rule_set.rules),
        notifiers=[n.name for n in notifiers],
        target_label=target.label if target is not None else choice,
        _closers=closers,
    )
