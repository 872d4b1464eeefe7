"""The keeper loop: collectors isolated from each other, stale marking, rules and drain."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from clawkeeper.monitor.daemon import Keeper
from clawkeeper.monitor.model import (
    Alert,
    AlertState,
    CollectContext,
    Matcher,
    MetricInfo,
    MetricKind,
    MetricReader,
    Point,
    Resolution,
    Sample,
    Series,
    labels_of,
)


@dataclass
class MemoryStore:
    samples: list[Sample] = field(default_factory=list)
    stale: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    maintained: int = 0

    def write(self, samples: Iterable[Sample]) -> int:
        batch = list(samples)
        self.samples.extend(batch)
        return len(batch)

    def mark_stale(self, source: str, names: Sequence[str], ts: float, reason: str) -> None:
        self.stale[source] = (list(names), reason)

    def range(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution | None = None,
    ) -> list[Series]:
        points = tuple(Point(s.ts, s.value) for s in self.samples if s.name == name and start <= s.ts <= end)
        return [Series(name, (), points)] if points else []

    def latest(self, name: str, matchers: Sequence[Matcher] = (), *, at: float | None = None) -> list[Series]:
        found = [s for s in self.samples if s.name == name]
        return [Series(name, found[-1].labels, (Point(found[-1].ts, found[-1].value),))] if found else []

    def names(self) -> list[str]:
        return sorted({s.name for s in self.samples})

    def maintain(self, now: float) -> object:
        self.maintained += 1
        return None

    def values(self, name: str) -> list[float]:
        return [s.value for s in self.samples if s.name == name]


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Constant:
    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value
        self.calls = 0
        self.metrics = [MetricInfo(f"{name}_value", MetricKind.GAUGE, "test")]

    def collect(self, ctx: CollectContext) -> list[Sample]:
        self.calls += 1
        return [Sample(f"{self.name}_value", self.value, ctx.now)]


class Broken:
    name = "broken"
    metrics = [MetricInfo("broken_value", MetricKind.GAUGE, "test")]

    def __init__(self) -> None:
        self.calls = 0

    def collect(self, ctx: CollectContext) -> list[Sample]:
        self.calls += 1
        raise OSError("permission denied reading /proc/1/io")


class ReadyRule:
    """Fires when the last `good_value` sample is below 1 (a stand-in for the rule engine)."""

    def __init__(self) -> None:
        self.evaluations = 0

    def evaluate(self, reader: MetricReader, now: float) -> Sequence[Alert]:
        self.evaluations += 1
        latest = reader.latest("good_value")
        bad = bool(latest) and latest[0].points[-1].value < 1
        state = AlertState.FIRING if bad else AlertState.INACTIVE
        return [Alert("GoodIsBad", labels_of(alertname="GoodIsBad"), (), state, 0.0, now)]


@dataclass
class RecordingNotifications:
    seen: list[list[AlertState]] = field(default_factory=list)

    def tick(self, alerts: Sequence[Alert], now: float) -> Sequence[object]:
        self.seen.append([a.state for a in alerts])
        return []


def _settle(keeper: Keeper, clock: Clock, steps: int, step_s: float) -> None:
    """Drive the loop as `run()` does: a tick starts what is due, the next one (when the
    collections are done) harvests them and evaluates; then time moves on."""
    for _ in range(steps):
        keeper.tick()
        deadline = time.monotonic() + 5
        while keeper.collecting() and time.monotonic() < deadline:
            time.sleep(0.005)
        keeper.tick()
        clock.now += step_s


def test_failing_collector_is_marked_stale_and_never_stops_the_others() -> None:
    clock, store = Clock(), MemoryStore()
    good, broken = Constant("good", 1.0), Broken()
    keeper = Keeper(
        store=store,
        collectors=[(broken, 10.0), (good, 10.0)],
        evaluator=None,
        notifications=None,
        schedule=None,
        interval_s=10.0,
        clock=clock,
    )
    _settle(keeper, clock, steps=6, step_s=10.0)
    assert good.calls >= 5 and broken.calls >= 5
    assert store.values("good_value") == [1.0] * good.calls
    assert store.stale["broken"] == (["broken_value"], "OSError: permission denied reading /proc/1/io")
    status = {c.name: c for c in keeper.snapshot().collectors}
    assert status["good"].ok and not status["broken"].ok
    assert status["broken"].stale_metrics == ("broken_value",)
    # the keeper records its own view of every collector
    errors = [s for s in store.samples if s.name == "keeper_collector_errors_total"]
    assert max(s.value for s in errors if s.label_map["collector"] == "broken") == broken.calls
    assert {
        s.value
        for s in store.samples
        if s.name == "keeper_collector_stale" and s.label_map["collector"] == "good"
    } == {0.0}


def test_rules_are_evaluated_and_alerts_handed_to_notifications() -> None:
    clock, store = Clock(), MemoryStore()
    good = Constant("good", 1.0)
    rule, notes = ReadyRule(), RecordingNotifications()
    keeper = Keeper(
        store=store,
        collectors=[(good, 5.0)],
        evaluator=rule,
        notifications=notes,
        schedule=None,
        interval_s=5.0,
        clock=clock,
    )
    _settle(keeper, clock, steps=3, step_s=5.0)
    assert keeper.current_alerts() == []  # inactive alerts are not "current"
    good.value = 0.0
    _settle(keeper, clock, steps=3, step_s=5.0)
    assert [a.name for a in keeper.current_alerts()] == ["GoodIsBad"]
    assert notes.seen[-1] == [AlertState.FIRING]
    assert rule.evaluations >= 5


def test_an_exception_in_the_rules_is_shown_not_fatal() -> None:
    class Exploding:
        def evaluate(self, reader: MetricReader, now: float) -> Sequence[Alert]:
            raise RuntimeError("rule file vanished")

    clock, store = Clock(), MemoryStore()
    keeper = Keeper(
        store=store,
        collectors=[(Constant("good", 1.0), 5.0)],
        evaluator=Exploding(),
        notifications=None,
        schedule=None,
        interval_s=5.0,
        clock=clock,
    )
    _settle(keeper, clock, steps=3, step_s=5.0)
    snapshot = keeper.snapshot()
    assert any("rule evaluation: RuntimeError: rule file vanished" in e for e in snapshot.errors)
    assert store.values("good_value")  # collection went on


def test_request_stop_drains_and_run_returns() -> None:
    store = MemoryStore()
    release = threading.Event()

    class Slow(Constant):
        def collect(self, ctx: CollectContext) -> list[Sample]:
            release.wait(5)
            return super().collect(ctx)

    slow = Slow("slow", 2.0)
    keeper = Keeper(
        store=store,
        collectors=[(slow, 0.2)],
        evaluator=ReadyRule(),
        notifications=None,
        schedule=None,
        interval_s=0.2,
        drain_grace_s=5.0,
    )
    runner = threading.Thread(target=keeper.run)
    runner.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(s.running is not None for s in keeper._slots):
        time.sleep(0.01)
    keeper.request_stop()
    release.set()
    runner.join(timeout=10)
    assert not runner.is_alive()
    # the collection in flight when the stop came was finished and stored, not thrown away
    assert store.values("slow_value") == [2.0] * slow.calls and slow.calls >= 1
    assert keeper.snapshot().stopping


def test_health_reflects_a_stuck_loop() -> None:
    clock = Clock()
    keeper = Keeper(
        store=MemoryStore(),
        collectors=[],
        evaluator=None,
        notifications=None,
        schedule=None,
        interval_s=10.0,
        clock=clock,
    )
    assert not keeper.snapshot().healthy  # never ticked
    keeper.tick()
    assert keeper.snapshot().healthy
    clock.now += 31
    assert not keeper.snapshot().healthy
    assert keeper.snapshot().to_json()["healthy"] is False


def test_rules_see_the_samples_of_the_round_they_evaluate() -> None:
    """Evaluation waits for the round's collections: an alert is not delayed by an extra interval."""
    seen: list[float] = []

    class Recording:
        def evaluate(self, reader: MetricReader, now: float) -> Sequence[Alert]:
            latest = reader.latest("good_value")
            seen.append(latest[0].points[-1].value if latest else float("nan"))
            return []

    clock, store = Clock(), MemoryStore()
    good = Constant("good", 1.0)
    keeper = Keeper(
        store=store,
        collectors=[(good, 10.0)],
        evaluator=Recording(),
        notifications=None,
        schedule=None,
        interval_s=10.0,
        clock=clock,
    )

    def round_at(t: float) -> None:
        clock.now = t
        keeper.tick()  # collections due now start; the evaluation due now waits for them
        deadline = time.monotonic() + 5
        while keeper.collecting() and time.monotonic() < deadline:
            time.sleep(0.005)
        keeper.tick()  # harvested: now the evaluation runs

    start = clock.now
    round_at(start + 10)
    assert seen[-1] == 1.0
    good.value = 0.0
    round_at(start + 20)  # collector and evaluation due at the same moment
    assert seen[-1] == 0.0
