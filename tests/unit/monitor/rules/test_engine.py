"""The rule engine over synthetic series with a fake clock: states, restarts, staleness, silences."""

from __future__ import annotations

import math
from pathlib import Path

from clawkeeper.monitor.model import AlertState, Matcher, MatchOp
from clawkeeper.monitor.notify.grouping import labels_fingerprint
from clawkeeper.monitor.rules import (
    AlertStateStore,
    EnginePolicy,
    EvaluationResult,
    Op,
    Reduction,
    RuleEngine,
    RuleSpec,
)
from clawkeeper.monitor.rules.transitions import FlapPolicy
from tests.unit.monitor.rules.fakes import Clock, FakeReader

T0 = 1_700_000_000.0
F, P, R, OFF = AlertState.FIRING, AlertState.PENDING, AlertState.RESOLVED, AlertState.INACTIVE

CPU = RuleSpec(
    name="HostHighCpu",
    metric="host_cpu_percent",
    op=Op.GT,
    threshold=85,
    for_s=120,
    summary="CPU {{ $value }}% on {{ $labels.host }}",
)


def make(tmp_path: Path, *rules: RuleSpec, clock: Clock | None = None, **policy: object) -> RuleEngine:
    store = AlertStateStore.open(tmp_path / "monitor.sqlite")
    return RuleEngine(list(rules), store, clock or Clock(T0), policy=EnginePolicy(**policy))  # type: ignore[arg-type]


def states(result: EvaluationResult) -> list[tuple[str, AlertState]]:
    return [(a.name, a.state) for a in result]


def test_for_pending_then_firing_then_resolved_once(tmp_path: Path) -> None:
    reader = FakeReader()
    engine = make(tmp_path, CPU)
    seen = []
    for i, value in enumerate([90, 95, 92, 91, 50, 50]):
        now = T0 + i * 60
        reader.add("host_cpu_percent", value, now)
        seen.append(states(engine.evaluate(reader, now)))
    assert seen == [
        [("HostHighCpu", P)],
        [("HostHighCpu", P)],
        [("HostHighCpu", F)],  # 120 s after the first breach
        [("HostHighCpu", F)],
        [("HostHighCpu", R)],  # reported once ...
        [],  # ... then gone
    ]


def test_transitions_of_each_evaluation(tmp_path: Path) -> None:
    reader = FakeReader()
    engine = make(tmp_path, CPU)
    changes = []
    for i, value in enumerate([90, 90, 90, 10]):
        now = T0 + i * 60
        reader.add("host_cpu_percent", value, now)
        changes.append([(t.from_state, t.to_state) for t in engine.evaluate(reader, now).transitions])
    assert changes == [[(OFF, P)], [], [(P, F)], [(F, R)]]
    history = engine.store.transitions(rule="HostHighCpu")
    assert [(t.from_state, t.to_state) for t in reversed(history)] == [(OFF, P), (P, F), (F, R)]


def test_the_alert_carries_labels_fingerprint_value_times_and_rendered_annotations(tmp_path: Path) -> None:
    reader = FakeReader()
    rule = RuleSpec(
        name="HostHighCpu",
        metric="host_cpu_percent",
        threshold=85,
        labels=(("team", "ops"),),
        summary="CPU {{ $value }}% on {{ $labels.host }}",
    )
    engine = make(tmp_path, rule)
    reader.add("host_cpu_percent", 97.5, T0, {"host": "vps1"})
    (alert,) = engine.evaluate(reader, T0)
    assert alert.label_map == {
        "alertname": "HostHighCpu",
        "host": "vps1",
        "severity": "warning",
        "team": "ops",
    }
    assert alert.fingerprint == labels_fingerprint(alert.labels)
    assert alert.annotation_map["summary"] == "CPU 97.5% on vps1"
    assert (alert.value, alert.active_since, alert.fired_at) == (97.5, T0, T0)


def test_one_alert_per_label_set(tmp_path: Path) -> None:
    reader = FakeReader()
    rule = RuleSpec(name="Disk", metric="host_disk_used_percent", threshold=90)
    engine = make(tmp_path, rule)
    reader.add("host_disk_used_percent", 95, T0, {"mountpoint": "/"})
    reader.add("host_disk_used_percent", 40, T0, {"mountpoint": "/srv"})
    reader.add("host_disk_used_percent", 99, T0, {"mountpoint": "/var"})
    result = engine.evaluate(reader, T0)
    assert sorted(a.label_map["mountpoint"] for a in result) == ["/", "/var"]
    assert len({a.fingerprint for a in result}) == 2


def test_keep_firing_for_bridges_a_short_gap(tmp_path: Path) -> None:
    rule = RuleSpec(name="Down", metric="gateway_live", op=Op.EQ, threshold=0, keep_firing_for_s=60)
    reader = FakeReader()
    engine = make(tmp_path, rule)
    seen = []
    for i, value in enumerate([0, 1, 0, 1, 1, 1]):
        now = T0 + i * 30
        reader.add("gateway_live", value, now)
        seen.append([a.state for a in engine.evaluate(reader, now)])
    # clear at 30 (held), breach at 60, clear at 90 (held), 120 (30 s), 150 (60 s): resolved
    assert seen == [[F], [F], [F], [F], [F], [R]]


def test_hysteresis_holds_until_the_resolve_threshold_is_crossed(tmp_path: Path) -> None:
    rule = RuleSpec(name="Cpu", metric="host_cpu_percent", threshold=85, resolve_threshold=75)
    reader = FakeReader()
    engine = make(tmp_path, rule)
    seen = []
    for i, value in enumerate([80, 90, 80, 76, 74, 80]):
        now = T0 + i * 10
        reader.add("host_cpu_percent", value, now)
        seen.append([a.state for a in engine.evaluate(reader, now)])
    # 80 does not fire (below 85), 90 fires, 80 and 76 hold, 74 resolves, 80 does not fire again
    assert seen == [[], [F], [F], [F], [R], []]
    status = {s.rule: s for s in engine.evaluate(reader, T0 + 60).statuses}["Cpu"]
    assert status.series[0].threshold == 85


def test_flapping_alert_stays_firing_until_stable(tmp_path: Path) -> None:
    rule = RuleSpec(name="Flappy", metric="gateway_live", op=Op.EQ, threshold=0)
    reader = FakeReader()
    engine = make(tmp_path, rule, flap=FlapPolicy(window=3600, threshold=3, stable_for=300))
    notified = []
    flapping_seen = False
    values = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1] + [1] * 12  # toggles each minute, then stays up
    for i, value in enumerate(values):
        now = T0 + i * 60
        reader.add("gateway_live", value, now)
        result = engine.evaluate(reader, now)
        notified += [t.to_state for t in result.transitions]
        flapping_seen |= any(a.annotation_map.get("flapping") == "true" for a in result)
    # fire, resolve, fire (3 changes); the next resolve would be the 4th: held while it flaps,
    # then one resolve once it has been up for 5 minutes
    assert notified == [F, R, F, R]
    assert flapping_seen
    history = engine.store.transitions(rule="Flappy")
    assert history[0].to_state is R and history[0].note == "stable again after flapping"
    assert history[0].at == T0 + 9 * 60 + 300  # up since minute 9, stable 5 minutes later


def test_restart_keeps_pending_progress_and_does_not_refire(tmp_path: Path) -> None:
    reader = FakeReader()
    slow = RuleSpec(name="Slow", metric="m_slow", threshold=0, for_s=300)
    fast = RuleSpec(name="Fast", metric="m_fast", threshold=0)
    first = make(tmp_path, slow, fast)
    reader.add("m_slow", 1, T0)
    reader.add("m_fast", 1, T0)
    before = first.evaluate(reader, T0)
    assert {a.name: a.state for a in before} == {"Slow": P, "Fast": F}
    first.store.close()

    # the keeper was down 4 minutes (within the 1 h tolerance)
    second = make(tmp_path, slow, fast)
    reader.add("m_slow", 1, T0 + 240)
    reader.add("m_fast", 1, T0 + 240)
    after = second.evaluate(reader, T0 + 240)
    assert {a.name: a.state for a in after} == {"Slow": P, "Fast": F}
    assert after.transitions == ()  # no new "firing": notifications are not re-sent
    fast_alert = next(a for a in after if a.name == "Fast")
    assert fast_alert.fired_at == T0
    reader.add("m_slow", 1, T0 + 300)
    fired = second.evaluate(reader, T0 + 300)
    assert {a.name: a.state for a in fired}["Slow"] is F  # `for` counted from T0, not from the restart
    assert [(t.rule, t.to_state) for t in fired.transitions] == [("Slow", F)]


def test_an_outage_longer_than_the_tolerance_restarts_pending(tmp_path: Path) -> None:
    reader = FakeReader()
    slow = RuleSpec(name="Slow", metric="m_slow", threshold=0, for_s=300)
    fast = RuleSpec(name="Fast", metric="m_fast", threshold=0)
    first = make(tmp_path, slow, fast, outage_tolerance=600)
    reader.add("m_slow", 1, T0)
    reader.add("m_fast", 1, T0)
    first.evaluate(reader, T0)
    first.store.close()

    back = T0 + 3600  # down an hour, tolerance 10 minutes
    second = make(tmp_path, slow, fast, outage_tolerance=600)
    reader.add("m_slow", 1, back)
    reader.add("m_fast", 1, back)
    result = second.evaluate(reader, back)
    slow_alert = next(a for a in result if a.name == "Slow")
    assert slow_alert.state is P and slow_alert.active_since == back
    assert [(t.rule, t.from_state, t.to_state) for t in result.transitions] == [
        ("Slow", P, OFF),
        ("Slow", OFF, P),
    ]
    assert "outage tolerance" in result.transitions[0].note
    fast_alert = next(a for a in result if a.name == "Fast")
    assert fast_alert.state is F and fast_alert.fired_at == T0  # firing alerts are not demoted


GATEWAY = RuleSpec(
    name="GatewayNotReady",
    metric="gateway_ready",
    op=Op.EQ,
    threshold=0,
    window=60,
    treat_stale_as=0.0,
    for_s=120,
)


def test_missing_gateway_ready_counts_as_not_ready(tmp_path: Path) -> None:
    engine = make(tmp_path, GATEWAY)
    reader = FakeReader()
    first = engine.evaluate(reader, T0)
    assert [(a.name, a.state, a.value) for a in first] == [("GatewayNotReady", P, 0.0)]
    assert engine.evaluate(reader, T0 + 120).by_state(F)


def test_a_stale_collector_or_an_old_sample_counts_as_not_ready(tmp_path: Path) -> None:
    reader = FakeReader()
    reader.add("gateway_ready", 1, T0)
    engine = make(tmp_path, GATEWAY)
    assert list(engine.evaluate(reader, T0)) == []
    reader.stale.add("gateway_ready")  # the gateway collector failed
    assert states(engine.evaluate(reader, T0 + 10)) == [("GatewayNotReady", P)]
    reader.stale.clear()
    reader.add("gateway_ready", 1, T0 + 20)
    assert list(engine.evaluate(reader, T0 + 20)) == []  # pending drops back to inactive
    # no sample for more than the 60 s window: stale
    status = engine.evaluate(reader, T0 + 81)
    assert states(status) == [("GatewayNotReady", P)]
    assert "no sample in the last 1m" in status.statuses[0].series[0].note


def test_a_stale_series_without_treat_stale_as_gives_no_alert(tmp_path: Path) -> None:
    rule = RuleSpec(name="Down", metric="gateway_live", op=Op.EQ, threshold=0)
    reader = FakeReader()
    reader.add("gateway_live", 0, T0)
    engine = make(tmp_path, rule)
    assert states(engine.evaluate(reader, T0)) == [("Down", F)]
    # 5 minutes without a sample: Prometheus' lookback is over, the series is gone, the alert resolves
    assert states(engine.evaluate(reader, T0 + 301)) == [("Down", R)]


def test_silenced_alerts_are_evaluated_but_marked(tmp_path: Path) -> None:
    clock = Clock(T0)
    engine = make(tmp_path, CPU, clock=clock)
    reader = FakeReader()
    reader.add("host_cpu_percent", 99, T0, {"host": "a"})
    reader.add("host_cpu_percent", 99, T0, {"host": "b"})
    silence_id = engine.store.silences.add(
        [Matcher("alertname", MatchOp.EQ, "HostHighCpu"), Matcher("host", MatchOp.EQ, "a")],
        ends_at=T0 + 3600,
        reason="planned load test",
        created_by="alice",
        now=T0,
    )
    result = engine.evaluate(reader, T0)
    by_host = {a.label_map["host"]: a for a in result}
    assert by_host["a"].silenced_by == silence_id and by_host["a"].state is P
    assert by_host["b"].silenced_by is None
    engine.store.silences.expire(silence_id, now=T0 + 60)
    later = engine.evaluate(reader, T0 + 60)
    assert all(a.silenced_by is None for a in later)


def test_a_silence_ends_on_its_own(tmp_path: Path) -> None:
    engine = make(tmp_path, CPU)
    reader = FakeReader()
    reader.add("host_cpu_percent", 99, T0)
    engine.store.silences.add(
        [Matcher("alertname", MatchOp.EQ, "HostHighCpu")], T0 + 60, "short", "bob", now=T0
    )
    assert engine.evaluate(reader, T0)[0].silenced_by is not None
    assert engine.evaluate(reader, T0 + 60)[0].silenced_by is None


def test_a_rule_that_cannot_read_the_store_keeps_its_alerts_and_reports_the_error(tmp_path: Path) -> None:
    other = RuleSpec(name="Other", metric="m_other", threshold=0)
    engine = make(tmp_path, CPU, other)
    reader = FakeReader()
    for ts in (T0, T0 + 120):
        reader.add("host_cpu_percent", 99, ts)
        engine.evaluate(reader, ts)
    reader.fail.add("host_cpu_percent")
    reader.add("m_other", 1, T0 + 180)
    result = engine.evaluate(reader, T0 + 180)
    assert {a.name: a.state for a in result} == {"HostHighCpu": F, "Other": F}
    assert result.errors == ["HostHighCpu: RuntimeError: cannot read host_cpu_percent"]


def test_removing_a_rule_resolves_its_firing_alerts(tmp_path: Path) -> None:
    reader = FakeReader()
    reader.add("m_fast", 1, T0)
    fast = RuleSpec(name="Fast", metric="m_fast", threshold=0)
    first = make(tmp_path, fast)
    first.evaluate(reader, T0)
    first.store.close()
    second = make(tmp_path)  # the rule was disabled
    result = second.evaluate(reader, T0 + 10)
    assert states(result) == [("Fast", R)]
    assert result.transitions[0].note == "the rule was removed or disabled"
    assert list(second.evaluate(reader, T0 + 20)) == []


def test_rate_per_minute_of_a_counter_with_a_reset(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="Errors",
        metric="agent_log_errors_total",
        reduction=Reduction.RATE_PER_MINUTE,
        window=300,
        threshold=5,
    )
    reader = FakeReader()
    # 10 errors a minute, sampled every 30 s; the process restarts half way (counter reset)
    values = [float(5 * i) for i in range(6)] + [float(5 * i) for i in range(1, 6)]
    reader.fill("agent_log_errors_total", values, start=T0, step=30)
    engine = make(tmp_path, rule)
    (alert,) = engine.evaluate(reader, T0 + 300)
    assert alert.value is not None and math.isclose(alert.value, 10.0, rel_tol=0.1)


def test_absent_reduction_fires_with_the_matchers_labels(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="NoBackupMetrics",
        metric="backup_snapshots",
        reduction=Reduction.ABSENT,
        window=600,
        op=Op.EQ,
        threshold=1,
        matchers=(Matcher("repo", MatchOp.EQ, "main"),),
    )
    reader = FakeReader()
    engine = make(tmp_path, rule)
    (alert,) = engine.evaluate(reader, T0)
    assert alert.label_map["repo"] == "main" and alert.value == 1.0
    reader.add("backup_snapshots", 3, T0 + 10, {"repo": "main"})
    assert [a.state for a in engine.evaluate(reader, T0 + 10)] == [R]


def test_group_by_sums_series(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="Busy",
        metric="gateway_active_work",
        threshold=5,
        group_by=(),
    )
    reader = FakeReader()
    reader.add("gateway_active_work", 3, T0, {"kind": "agent"})
    reader.add("gateway_active_work", 4, T0, {"kind": "cron"})
    engine = make(tmp_path, rule)
    (alert,) = engine.evaluate(reader, T0)
    assert alert.value == 7 and alert.label_map == {"alertname": "Busy", "severity": "warning"}


def test_the_result_is_what_the_keeper_expects(tmp_path: Path) -> None:
    from clawkeeper.monitor.daemon import Evaluator

    engine = make(tmp_path, CPU)
    assert isinstance(engine.evaluate(FakeReader(), T0), EvaluationResult)
    evaluator: Evaluator = engine  # the keeper's protocol: evaluate(reader, now) -> Sequence[Alert]
    assert list(evaluator.evaluate(FakeReader(), T0 + 10)) == []
