"""Every built-in rule fires on a breach and stays quiet on normal data; overrides take effect."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.model import AlertState
from clawkeeper.monitor.rules import AlertStateStore, RuleEngine, load_rules
from clawkeeper.monitor.rules.defaults import DEFAULT_NAMES, default_rules
from clawkeeper.monitor.rules.templating import check_template
from clawkeeper.monitor.settings import MonitorSettings, RuleOverride, RuleSettings
from tests.unit.monitor.rules.fakes import FakeReader

END = 1_700_000_000.0
DAY = 86400.0
Fill = Callable[[FakeReader, float, float], None]


def gauge(name: str, value: float, every: float = 10.0, **labels: str) -> Fill:
    def fill(reader: FakeReader, start: float, end: float) -> None:
        ts = start
        while ts <= end:
            reader.add(name, value, ts, labels)
            ts += every

    return fill


def counter(name: str, per_minute: float, every: float = 30.0, **labels: str) -> Fill:
    def fill(reader: FakeReader, start: float, end: float) -> None:
        ts, total = start, 0.0
        while ts <= end:
            reader.add(name, total, ts, labels)
            total += per_minute * every / 60
            ts += every

    return fill


def messages(per_hour_before: float, per_hour_last_2h: float) -> Fill:
    """Inbound messages: a steady rate for the day before, another rate for the last two hours."""

    def fill(reader: FakeReader, start: float, end: float) -> None:
        ts, total = end - 2 * DAY, 0.0
        while ts <= end:
            reader.add("data_messages_total", total, ts, {"direction": "in"})
            rate = per_hour_last_2h if ts >= end - 7200 else per_hour_before
            total += rate / 60
            ts += 60

    return fill


def once(name: str, value: float, ago: float, **labels: str) -> Fill:
    def fill(reader: FakeReader, start: float, end: float) -> None:
        reader.add(name, value, end - ago, labels)

    return fill


def nothing(reader: FakeReader, start: float, end: float) -> None:
    return None


CASES: dict[str, tuple[Fill, Fill, float]] = {
    # name: (breach, normal, how long to evaluate in seconds)
    "HostHighCpu": (gauge("host_cpu_percent", 95), gauge("host_cpu_percent", 40), 900),
    "HostMemoryPressure": (gauge("host_memory_used_percent", 95), gauge("host_memory_used_percent", 60), 900),
    "HostSwapPressure": (gauge("host_swap_used_percent", 90), gauge("host_swap_used_percent", 10), 900),
    "HostDiskPressure": (
        gauge("host_disk_used_percent", 97, mountpoint="/"),
        gauge("host_disk_used_percent", 50, mountpoint="/"),
        900,
    ),
    "GatewayNotReady": (gauge("gateway_ready", 0), gauge("gateway_ready", 1), 300),
    "GatewayDown": (gauge("gateway_live", 0), gauge("gateway_live", 1), 300),
    "AgentErrorSpike": (counter("agent_log_errors_total", 12), counter("agent_log_errors_total", 1), 900),
    "DataVolumeDrop": (messages(30, 0), messages(30, 30), 3600),
    "BackupRpoMissed": (
        gauge("backup_last_verified_age_seconds", 30 * 3600, every=300),
        gauge("backup_last_verified_age_seconds", 2 * 3600, every=300),
        1800,
    ),
    "SecurityPatchOverdue": (
        gauge("update_security_patch_pending_seconds", 4 * DAY, every=3600),
        gauge("update_security_patch_pending_seconds", 0, every=3600),
        1800,
    ),
    "ScheduledJobFailed": (
        once("job_last_failed", 1, ago=2 * DAY, job="backup"),
        once("job_last_failed", 0, ago=2 * DAY, job="backup"),
        600,
    ),
}


def evaluate(tmp_path: Path, name: str, fill: Fill, duration: float, settings: MonitorSettings) -> AlertState:
    rules = [r for r in default_rules(settings) if r.name == name]
    engine = RuleEngine(rules, AlertStateStore.open(tmp_path / f"{name}.sqlite"))
    reader = FakeReader()
    start = END - duration
    fill(reader, start - 2 * 3600, END)  # data from before the evaluations start, too
    state = AlertState.INACTIVE
    ts = start
    while ts <= END:
        result = engine.evaluate(reader, ts)
        state = result[0].state if len(result) else AlertState.INACTIVE
        ts += 30
    return state


def test_the_cases_cover_every_default_rule() -> None:
    assert sorted(CASES) == sorted(DEFAULT_NAMES)
    assert [r.name for r in default_rules(MonitorSettings())] == list(DEFAULT_NAMES)


@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_default_rule_fires_on_a_breach(tmp_path: Path, name: str) -> None:
    breach, _normal, duration = CASES[name]
    assert evaluate(tmp_path, name, breach, duration, MonitorSettings()) is AlertState.FIRING


@pytest.mark.parametrize("name", DEFAULT_NAMES)
def test_default_rule_is_quiet_on_normal_data(tmp_path: Path, name: str) -> None:
    _breach, normal, duration = CASES[name]
    assert evaluate(tmp_path, name, normal, duration, MonitorSettings()) is AlertState.INACTIVE


def test_a_short_cpu_spike_does_not_fire(tmp_path: Path) -> None:
    def spike(reader: FakeReader, start: float, end: float) -> None:
        gauge("host_cpu_percent", 40)(reader, start, end - 180)
        gauge("host_cpu_percent", 100)(reader, end - 170, end)

    assert evaluate(tmp_path, "HostHighCpu", spike, 900, MonitorSettings()) is not AlertState.FIRING


def test_no_verified_backup_ever_fires(tmp_path: Path) -> None:
    assert evaluate(tmp_path, "BackupRpoMissed", nothing, 1800, MonitorSettings()) is AlertState.FIRING


def test_little_traffic_is_not_judged(tmp_path: Path) -> None:
    quiet = messages(per_hour_before=2, per_hour_last_2h=0)  # baseline below 5 an hour
    assert evaluate(tmp_path, "DataVolumeDrop", quiet, 3600, MonitorSettings()) is AlertState.INACTIVE


def test_overrides_change_thresholds_and_can_disable(tmp_path: Path) -> None:
    settings = MonitorSettings(
        rules=RuleSettings(
            overrides={
                "HostHighCpu": RuleOverride(threshold=30),
                "GatewayDown": RuleOverride(enabled=False),
                "HostSwapPressure": RuleOverride.model_validate({"for": "1h", "severity": "critical"}),
            }
        )
    )
    ruleset = load_rules(settings)
    cpu = ruleset.by_name("HostHighCpu")
    assert cpu is not None and cpu.threshold == 30 and cpu.resolve_threshold == 20  # keeps the 10-point gap
    assert "busier than 30%" in cpu.description
    assert "GatewayDown" not in [r.name for r in ruleset.rules]
    assert [r.name for r in ruleset.disabled] == ["GatewayDown"]
    swap = ruleset.by_name("HostSwapPressure")
    assert swap is not None and (swap.for_s, swap.severity) == (3600, "critical")
    state = evaluate(tmp_path, "HostHighCpu", gauge("host_cpu_percent", 40), 900, settings)
    assert state is AlertState.FIRING


def test_backup_rpo_and_patch_deadline_come_from_settings() -> None:
    settings = MonitorSettings(rules=RuleSettings(backup_rpo=3600, security_patch_deadline=7200))
    rules = {r.name: r for r in default_rules(settings)}
    assert rules["BackupRpoMissed"].threshold == 3600
    assert rules["SecurityPatchOverdue"].threshold == 7200
    assert rules["BackupRpoMissed"].treat_stale_as == math.inf


def test_an_override_for_an_unknown_rule_is_an_error() -> None:
    settings = MonitorSettings(rules=RuleSettings(overrides={"HostHighCPU": RuleOverride(threshold=1)}))
    with pytest.raises(ConfigError, match=r"overrides\.HostHighCPU: there is no rule named"):
        load_rules(settings)


def test_an_override_that_breaks_hysteresis_is_an_error() -> None:
    bad = RuleOverride(threshold=80, resolve_threshold=95)
    settings = MonitorSettings(rules=RuleSettings(overrides={"HostHighCpu": bad}))
    with pytest.raises(ConfigError, match=r"overrides\.HostHighCpu: resolve_threshold 95 must not be above"):
        load_rules(settings)


def test_every_default_template_renders() -> None:
    for rule in default_rules(MonitorSettings()):
        for text in rule.all_annotations().values():
            check_template(text)
        assert rule.summary and rule.description and rule.runbook
