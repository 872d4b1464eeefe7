"""The generated Prometheus rule file: valid for the real promtool, and equivalent to the engine.

Equivalence is shown with `promtool test rules`: the same input series go through our engine and
through Prometheus' own rule evaluation, and at every evaluation Prometheus' `ALERTS` series must
say exactly what our engine says (inactive, pending or firing), and the annotations Prometheus
renders must be the ones we render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from clawkeeper.effects import proc
from clawkeeper.monitor.model import AlertState, Matcher, MatchOp
from clawkeeper.monitor.rules import (
    Aggregate,
    AlertStateStore,
    Op,
    Reduction,
    RuleEngine,
    RuleSpec,
    load_rules,
)
from clawkeeper.monitor.rules.defaults import default_rules
from clawkeeper.monitor.rules.promql import prometheus_rules_yaml, to_prometheus_rules, to_promql
from clawkeeper.monitor.settings import MonitorSettings
from tests.unit.monitor.rules.fakes import FakeReader

PROMTOOL = Path("/usr/bin/promtool")


def promtool(*args: str, cwd: Path) -> proc.CommandResult:
    if not PROMTOOL.exists():
        pytest.fail("promtool is missing at /usr/bin/promtool: install the Debian package prometheus")
    return proc.run([str(PROMTOOL), *args], timeout=120, cwd=cwd)


def test_generated_rule_file_passes_promtool_check(tmp_path: Path) -> None:
    path = tmp_path / "clawkeeper.rules.yml"
    path.write_text(prometheus_rules_yaml(load_rules(MonitorSettings()).rules, evaluation_interval=10))
    result = promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.ok, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_user_rule_features_pass_promtool_check(tmp_path: Path) -> None:
    rules = [
        RuleSpec(
            name="Grouped",
            metric="gateway_active_work",
            matchers=(Matcher("kind", MatchOp.RE, r"agent|cron\d"),),
            reduction=Reduction.MAX,
            window=90,
            threshold=3,
            resolve_threshold=2,
            group_by=("kind",),
            labels=(("team", "ops"),),
            keep_firing_for_s=30,
        ),
        RuleSpec(name="Gone", metric="keeper_up", reduction=Reduction.ABSENT, op=Op.EQ, threshold=1),
        RuleSpec(name="Slow", metric="job_runs_total", reduction=Reduction.RATE, threshold=0.5),
    ]
    path = tmp_path / "user.rules.yml"
    path.write_text(prometheus_rules_yaml(rules))
    result = promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.ok, result.stdout + result.stderr


def test_rule_file_shape() -> None:
    doc = to_prometheus_rules(default_rules(MonitorSettings()), evaluation_interval=15)
    (group,) = doc["groups"]
    assert group["name"] == "clawkeeper" and group["interval"] == "15s"
    by_name = {r["alert"]: r for r in group["rules"]}
    gateway = by_name["GatewayNotReady"]
    assert (gateway["for"], gateway["keep_firing_for"], gateway["labels"]) == (
        "2m",
        "1m",
        {"severity": "critical"},
    )
    assert by_name["AgentErrorSpike"]["expr"] == "(rate(clawkeeper_agent_log_errors_total[5m]) * 60) > 5"
    assert "offset 1h" in by_name["DataVolumeDrop"]["expr"]
    assert 'ALERTS{alertname="HostHighCpu", alertstate="firing"}' in by_name["HostHighCpu"]["expr"]
    assert "for" not in by_name["ScheduledJobFailed"]
    text = prometheus_rules_yaml(default_rules(MonitorSettings()))
    assert "Flap suppression" in text.split("groups:")[0]  # said in a comment, before the rules


# --- equivalence with Prometheus' own evaluation ------------------------------------------------------

EVAL_EVERY = 30
SAMPLE_EVERY = 20


def _engine_timeline(
    tmp_path: Path, rule: RuleSpec, values: list[float | None], labels: dict[str, str], until: int
) -> list[tuple[int, list[tuple[dict[str, str], AlertState]]]]:
    reader = FakeReader()
    reader.fill(rule.metric, values, start=0.0, step=SAMPLE_EVERY, labels=labels)
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "engine.sqlite"))
    timeline = []
    for t in range(0, until + 1, EVAL_EVERY):
        result = engine.evaluate(reader, float(t))
        timeline.append(
            (
                t,
                [
                    (a.label_map, a.state)
                    for a in result
                    if a.state in (AlertState.PENDING, AlertState.FIRING)
                ],
            )
        )
    return timeline


def _series_text(rule: RuleSpec, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"clawkeeper_{rule.metric}{{{inner}}}" if inner else f"clawkeeper_{rule.metric}"


def _promtool_equivalence(
    tmp_path: Path, rule: RuleSpec, values: list[float | None], labels: dict[str, str]
) -> list[str]:
    until = (len(values) - 1) * SAMPLE_EVERY
    timeline = _engine_timeline(tmp_path, rule, values, labels, until)
    (tmp_path / "rules.yml").write_text(prometheus_rules_yaml([rule], evaluation_interval=EVAL_EVERY))
    expr_tests: list[dict[str, Any]] = []
    for t, alerts in timeline:
        samples = []
        for alert_labels, state in alerts:
            full = {**alert_labels, "alertstate": state.value}
            inner = ",".join(f'{k}="{v}"' for k, v in sorted(full.items()))
            samples.append({"labels": f"ALERTS{{{inner}}}", "value": 1})
        expr_tests.append(
            {"expr": f'ALERTS{{alertname="{rule.name}"}}', "eval_time": f"{t}s", "exp_samples": samples}
        )
    series = " ".join("_" if v is None else repr(v) for v in values)
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{EVAL_EVERY}s",
        "tests": [
            {
                "interval": f"{SAMPLE_EVERY}s",
                "input_series": [{"series": _series_text(rule, labels), "values": series}],
                "promql_expr_test": expr_tests,
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.ok, f"Prometheus disagrees with the engine:\n{result.stdout}\n{result.stderr}"
    return [f"{t}:{','.join(s.value for _, s in alerts) or '-'}" for t, alerts in timeline]


def test_gateway_not_ready_goes_pending_and_firing_when_prometheus_does(tmp_path: Path) -> None:
    rule = next(r for r in default_rules(MonitorSettings()) if r.name == "GatewayNotReady")
    # ready, then not ready for 4 minutes, ready briefly (keep_firing_for bridges it), not ready,
    # then the samples stop (stale counts as not ready), then ready for good
    values: list[float | None] = [1.0] * 4 + [0.0] * 12 + [1.0] * 2 + [0.0] * 3 + [None] * 10 + [1.0] * 12
    timeline = _promtool_equivalence(tmp_path, rule, values, {})
    states = [entry.split(":")[1] for entry in timeline]
    assert "pending" in states and "firing" in states and states[-1] == "-"  # the run covers every state


def test_hysteresis_matches_prometheus_alerts_idiom(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="HostHighCpu",
        metric="host_cpu_percent",
        threshold=85,
        resolve_threshold=75,
        for_s=60,
        summary="{{ $labels.host }}",
    )
    values: list[float | None] = [50, 90, 90, 90, 90, 80, 80, 80, 76, 74, 74, 80, 80, 90, 90, 90, 90, 70, 70]
    timeline = _promtool_equivalence(
        tmp_path, rule, [float(v) if v is not None else None for v in values], {"host": "a"}
    )
    states = [entry.split(":")[1] for entry in timeline]
    assert "firing" in states and states[-1] == "-"


def test_annotations_render_as_prometheus_renders_them(tmp_path: Path) -> None:
    rule = RuleSpec(
        name="Templated",
        metric="backup_last_verified_age_seconds",
        threshold=0,
        summary="age {{ $value | humanizeDuration }} ({{ $value }}) on {{ $labels.repo }}{{ $labels.nope }}",
        description='{{ $value | humanize }} / {{ $value | humanize1024 }} / {{ printf "%.2f" $value }}',
        annotations=(("share", "{{ $value | humanizePercentage }}"),),
    )
    checks = [93784.5, 0.25, 1234567.0, 3.0]
    reader = FakeReader()
    tests: list[dict[str, Any]] = []
    series_values = []
    engine = RuleEngine([rule], AlertStateStore.open(tmp_path / "engine.sqlite"))
    for i, value in enumerate(checks):
        t = i * 60
        reader.add(rule.metric, value, float(t), {"repo": "main"})
        (alert,) = engine.evaluate(reader, float(t))
        series_values.append(repr(value))
        tests.append(
            {
                "alertname": "Templated",
                "eval_time": f"{t}s",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "warning", "repo": "main"},
                        "exp_annotations": dict(alert.annotations),
                    }
                ],
            }
        )
    (tmp_path / "rules.yml").write_text(prometheus_rules_yaml([rule], evaluation_interval=60))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "60s",
        "tests": [
            {
                "interval": "60s",
                "input_series": [
                    {
                        "series": 'clawkeeper_backup_last_verified_age_seconds{repo="main"}',
                        "values": " ".join(series_values),
                    }
                ],
                "alert_rule_test": tests,
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = promtool("test", "rules", "test.yml", cwd=tmp_path)
    assert result.ok, f"Prometheus renders differently:\n{result.stdout}\n{result.stderr}"


def test_promql_of_each_reduction() -> None:
    def expr(**kwargs: Any) -> str:
        return to_promql(RuleSpec(name="X", metric="m", threshold=1, **kwargs))

    assert expr() == "clawkeeper_m > 1"
    assert expr(window=60) == "last_over_time(clawkeeper_m[1m]) > 1"
    assert expr(reduction=Reduction.AVG) == "avg_over_time(clawkeeper_m[5m]) > 1"
    assert expr(reduction=Reduction.MIN, window=600) == "min_over_time(clawkeeper_m[10m]) > 1"
    assert expr(reduction=Reduction.INCREASE, window=3600) == "increase(clawkeeper_m[1h]) > 1"
    assert expr(reduction=Reduction.ABSENT, op=Op.EQ) == "absent_over_time(clawkeeper_m[5m]) == 1"
    assert expr(matchers=(Matcher("a", MatchOp.NE, 'x"y'),)) == 'clawkeeper_m{a!="x\\"y"} > 1'
    assert expr(group_by=("job",), aggregate=Aggregate.MAX) == "max by (job) (clawkeeper_m) > 1"
