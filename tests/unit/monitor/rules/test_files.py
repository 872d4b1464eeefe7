"""User rule files: what parses, and every mistake reported as file:line with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.errors import ConfigError, ExitCode
from clawkeeper.monitor.model import MatchOp
from clawkeeper.monitor.rules import Op, Reduction, load_rules
from clawkeeper.monitor.rules.files import RuleFileError, load_rule_file, parse_rule_text
from clawkeeper.monitor.settings import MonitorSettings, RuleOverride, RuleSettings

GOOD = """\
[[rule]]
name = "GatewaySlowProbe"
metric = "gateway_probe_latency_seconds"
matchers = ['probe="readyz"', "instance=~'.*:18789'"]
reduce = "avg"
window = "2m"
op = ">"
threshold = 2
resolve_threshold = 1
for = "5m"
keep_firing_for = "1m"
severity = "critical"
labels = { team = "ops" }
summary = "readyz takes {{ $value | humanizeDuration }}"
annotations = { dashboard = "https://grafana.example/d/clawkeeper" }

[[rule]]
name = "FewMessages"
metric = "data_messages_total"
matchers = 'direction="out"'
reduce = "increase"
window = "1h"
op = "<"
threshold = 0.5

[rule.baseline]
window = "1d"
min = 3
"""


def test_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    slow, few = load_rule_file(path)
    assert (slow.name, slow.metric, slow.reduction, slow.window, slow.op) == (
        "GatewaySlowProbe",
        "gateway_probe_latency_seconds",
        Reduction.AVG,
        120.0,
        Op.GT,
    )
    assert [(m.label, m.op, m.value) for m in slow.matchers] == [
        ("probe", MatchOp.EQ, "readyz"),
        ("instance", MatchOp.RE, ".*:18789"),
    ]
    assert (slow.threshold, slow.resolve_threshold, slow.for_s, slow.keep_firing_for_s) == (2, 1, 300, 60)
    assert slow.severity == "critical" and slow.label_map == {"team": "ops"}
    assert slow.source == f"{path}:1"
    assert few.baseline is not None and (few.baseline.window, few.baseline.min_value) == (86400, 3)
    assert few.source == f"{path}:17"


def _error(text: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.toml"
    with pytest.raises(RuleFileError) as caught:
        parse_rule_text(text, path=path)
    assert caught.value.exit_code is ExitCode.CONFIG
    assert caught.value.hint  # every error says how to fix it
    return caught.value.message.replace(str(path), "bad.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nthreshhold = 2\n',
            "bad.toml:5: rule 'X': unknown key 'threshhold'",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nop = "=>"\n',
            "bad.toml:5: rule 'X': `op` must be one of",
        ),
        ('[[rule]]\nname = "X"\nmetric = "m"\n', "bad.toml:1: rule 'X': `threshold` is required"),
        ('[[rule]]\nname = "X"\nthreshold = 1\n', "bad.toml:1: rule 'X': `metric` is required"),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 85\nresolve_threshold = 90\n',
            "bad.toml:5: rule 'X': resolve_threshold 90 must not be above threshold 85",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nsummary = "{{ $value | shout }}"\n',
            "bad.toml:5: rule 'X': `summary`: unsupported template function `shout`",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nfor = "five minutes"\n',
            "bad.toml:5: rule 'X': `for`: 'five minutes' is not a duration",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nmatchers = ["job"]\n',
            "bad.toml:5: rule 'X': `matchers`: 'job' is not a label matcher",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\nlabels = { alertname = "Y" }\n',
            "bad.toml:5: rule 'X': label 'alertname' cannot be set",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\n\n[rule.baseline]\nmin = 3\n',
            "bad.toml:6: rule 'X': baseline.window is required",
        ),
        (
            '[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\n\n'
            '[[rule]]\nname = "X"\nmetric = "n"\nthreshold = 2\n',
            "bad.toml:7: rule 'X': another rule in this file has the same name",
        ),
        ('[[rule]]\nname = "X"\nmetric = "m"\nthreshold = 1\n[[rule\n', "bad.toml:5: not valid TOML"),
        ('[rules]\nname = "X"\n', "bad.toml:1: unknown table or key 'rules'"),
        ("", "bad.toml: the file declares no [[rule]] tables"),
        (
            '[[rule]]\nname = "bad name"\nmetric = "m"\nthreshold = 1\n',
            "bad.toml:2: rule 'bad name': the name must be",
        ),
    ],
)
def test_mistakes_name_the_file_line_and_rule(text: str, expected: str, tmp_path: Path) -> None:
    assert _error(text, tmp_path).startswith(expected)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="does not exist"):
        load_rule_file(tmp_path / "nope.toml")


def test_files_join_the_built_in_rules_and_take_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    settings = MonitorSettings(
        rules=RuleSettings(rule_files=[path], overrides={"GatewaySlowProbe": RuleOverride(threshold=3)})
    )
    ruleset = load_rules(settings)
    slow = ruleset.by_name("GatewaySlowProbe")
    assert slow is not None and slow.threshold == 3 and slow.resolve_threshold == 1
    assert len(ruleset.rules) == 13


def test_a_user_rule_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[rule]]\nname = "HostHighCpu"\nmetric = "m"\nthreshold = 1\n')
    with pytest.raises(ConfigError) as caught:
        load_rules(MonitorSettings(rules=RuleSettings(rule_files=[path])))
    assert caught.value.message == f"{path}:1: rule 'HostHighCpu': a built-in rule has this name"
    assert caught.value.hint is not None and "overrides.HostHighCpu" in caught.value.hint


def test_the_same_name_in_two_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    for path in (first, second):
        path.write_text('[[rule]]\nname = "Mine"\nmetric = "m"\nthreshold = 1\n')
    with pytest.raises(ConfigError, match=rf"b.toml:1: rule 'Mine': also defined at {first}:1"):
        load_rules(MonitorSettings(rules=RuleSettings(rule_files=[first, second])))
