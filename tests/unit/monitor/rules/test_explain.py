"""`alerts explain` reasons: pending, held by flapping, a baseline too small, a stopped keeper."""

from __future__ import annotations

from pathlib import Path

from clawkeeper.monitor.model import Matcher, MatchOp
from clawkeeper.monitor.rules import (
    AlertStateStore,
    Baseline,
    EnginePolicy,
    Op,
    Reduction,
    RuleEngine,
    RuleSpec,
)
from clawkeeper.monitor.rules.explain import Explanation, explain
from clawkeeper.monitor.rules.transitions import FlapPolicy
from tests.unit.monitor.rules.fakes import FakeReader

T0 = 1_700_000_000.0


def explained(engine: RuleEngine, rule: RuleSpec, now: float, stale_after: float = 60) -> Explanation:
    store = engine.store
    return explain(
        rule,
        enabled=True,
        status=store.statuses().get(rule.name),
        instances=store.instances(),
        history=store.transitions(rule=rule.name),
        silences=store.silences.active(now),
        now=now,
        stale_after=stale_after,
    )


def test_pending_says_when_it_fires_and_a_silence_is_named(tmp_path: Path) -> None:
    rule = RuleSpec(name="Disk", metric="host_disk_used_percent", threshold=90, for_s=600)
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "m.sqlite"))
    reader = FakeReader()
    reader.add("host_disk_used_percent", 95, T0, {"mountpoint": "/"})
    engine.store.silences.add([Matcher("mountpoint", MatchOp.EQ, "/")], T0 + 3600, "resizing", "ops", now=T0)
    engine.evaluate(reader, T0)
    result = explained(engine, rule, T0 + 60)
    assert result.reasons[0] == (
        '{mountpoint="/"}: PENDING since 2023-11-14 22:13:20 UTC: value 95 vs threshold 90; '
        "fires at 2023-11-14 22:23:20 UTC (9m from now) if it holds."
    )
    assert result.reasons[1].startswith("Silenced by ") and "(resizing, by ops)" in result.reasons[1]
    assert [(t.from_state.value, t.to_state.value) for t in result.history] == [("inactive", "pending")]


def test_held_firing_by_flapping(tmp_path: Path) -> None:
    rule = RuleSpec(name="Flap", metric="gateway_live", op=Op.EQ, threshold=0)
    policy = EnginePolicy(flap=FlapPolicy(window=3600, threshold=2, stable_for=600))
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "m.sqlite"), policy=policy)
    reader = FakeReader()
    for i, value in enumerate([0, 1, 0, 1]):
        reader.add("gateway_live", value, T0 + 60 * i)
        engine.evaluate(reader, T0 + 60 * i)
    (reason,) = explained(engine, rule, T0 + 180).reasons
    assert "FIRING since" in reason and "held by flapping" in reason


def test_a_baseline_too_small_to_judge(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="Drop",
        metric="data_messages_total",
        reduction=Reduction.INCREASE,
        window=3600,
        op=Op.LT,
        threshold=0.2,
        baseline=Baseline(window=86400, min_value=5),
    )
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "m.sqlite"))
    reader = FakeReader()
    reader.fill(
        "data_messages_total", [float(i // 60) for i in range(25 * 60)], start=T0 - 25 * 3600, step=60
    )
    engine.evaluate(reader, T0)
    (reason,) = explained(engine, rule, T0).reasons
    assert "too little traffic in the baseline to judge" in reason


def test_an_old_evaluation_asks_whether_the_keeper_runs(tmp_path: Path) -> None:
    rule = RuleSpec(name="Cpu", metric="host_cpu_percent", threshold=85)
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "m.sqlite"))
    engine.evaluate(FakeReader(), T0)
    reasons = explained(engine, rule, T0 + 7200).reasons
    assert reasons[0].startswith("Last evaluated 2h ago") and "is the keeper running?" in reasons[0]
    assert reasons[1].startswith("No data: the store has no host_cpu_percent series")
