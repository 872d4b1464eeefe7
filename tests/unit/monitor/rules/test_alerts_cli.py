"""`clawkeeper alerts ...` as a user runs it, on a monitor database written by the real engine."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from clawkeeper.cli import alerts_cmd
from clawkeeper.cli.context import AppContext
from clawkeeper.cli.render import console
from clawkeeper.errors import NotFound, UsageError
from clawkeeper.monitor.rules import AlertStateStore, RuleEngine, load_rules
from clawkeeper.monitor.settings import MonitorSettings, StoreSettings
from tests.unit.monitor.rules.fakes import FakeReader


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_width", 200)  # without a terminal rich would wrap at 80 columns


def make_app(config: Path) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = AppContext(config_file=config)
        ctx.call_on_close(ctx.obj.close)

    app.add_typer(alerts_cmd.app, name="alerts")
    return app


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "clawkeeper.toml"
    path.write_text(
        f'[ledger]\npath = "{tmp_path / "ledger.sqlite"}"\n\n'
        f'[monitor.store]\npath = "{tmp_path / "monitor.sqlite"}"\n'
    )
    return path


@pytest.fixture
def keeper_ran(tmp_path: Path, config: Path) -> Path:
    """Ten minutes of a keeper evaluating the built-in rules: the CPU is pegged, the rest is fine."""
    now = time.time() - 1
    reader = FakeReader()
    for i in range(61):
        ts = now - 600 + 10 * i
        reader.add("host_cpu_percent", 97.0, ts)
        reader.add("gateway_ready", 1.0, ts)
        reader.add("backup_last_verified_age_seconds", 3600.0, ts)
    monitor = MonitorSettings(store=StoreSettings(path=tmp_path / "monitor.sqlite"))
    engine = RuleEngine(load_rules(monitor).rules, AlertStateStore.open(monitor.store.path))
    for i in range(21):
        engine.evaluate(reader, now - 600 + 30 * i)
    engine.store.close()
    return config


def run(config: Path, *args: str) -> Result:
    with console.capture() as captured:
        result = CliRunner().invoke(make_app(config), ["alerts", *args])
    result.captured = captured.get()  # type: ignore[attr-defined]
    return result


def out(result: Result) -> str:
    return str(result.captured) + result.stdout  # type: ignore[attr-defined]


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.output, result.exception)
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_list_shows_the_firing_alert(keeper_ran: Path) -> None:
    doc = as_json(run(keeper_ran, "--json"))
    assert doc["kind"] == "alerts.list" and doc["note"] is None
    assert [(a["name"], a["state"], a["severity"]) for a in doc["alerts"]] == [
        ("HostHighCpu", "firing", "warning")
    ]
    assert doc["alerts"][0]["value"] == 97.0
    table = run(keeper_ran, "list")
    assert table.exit_code == 0
    assert "HostHighCpu" in out(table) and "firing" in out(table)


def test_list_all_includes_the_quiet_rules(keeper_ran: Path) -> None:
    doc = as_json(run(keeper_ran, "list", "--all", "--json"))
    quiet = {r["name"]: r["state"] for r in doc["quiet_rules"]}
    assert quiet["GatewayNotReady"] == "inactive" and "HostHighCpu" not in quiet
    assert len(quiet) == 10


def test_explain_a_firing_alert(keeper_ran: Path) -> None:
    result = run(keeper_ran, "explain", "hosthighcpu")
    text = out(result)
    assert result.exit_code == 0, result.exception
    assert "Fires when the 5m average of host_cpu_percent is above 85 for 5m" in text
    assert (
        "FIRING since" in text and "value 97, resolves when below 75" in text
    )  # hysteresis: resolves below 75
    assert "inactive -> pending" in text and "pending -> firing" in text
    assert "Runbook" in text


def test_explain_says_why_not_firing(keeper_ran: Path) -> None:
    doc = as_json(run(keeper_ran, "explain", "GatewayNotReady", "--json"))
    assert doc["promql"].startswith("(last_over_time(clawkeeper_gateway_ready[1m]) == 0)")
    assert doc["reasons"] == ["not firing: value 1 vs threshold 0; the rule needs == 0."]
    no_data = as_json(run(keeper_ran, "explain", "HostSwapPressure", "--json"))
    assert no_data["reasons"][0].startswith("No data: the store has no host_swap_used_percent series")


def test_explain_an_unknown_alert(keeper_ran: Path) -> None:
    result = run(keeper_ran, "explain", "Nope")
    assert isinstance(result.exception, NotFound)
    assert "HostHighCpu" in (result.exception.hint or "")


def test_history(keeper_ran: Path) -> None:
    doc = as_json(run(keeper_ran, "history", "--json"))
    changes = [(t["name"], t["from"], t["to"]) for t in reversed(doc["transitions"])]
    assert changes == [("HostHighCpu", "inactive", "pending"), ("HostHighCpu", "pending", "firing")]
    assert as_json(run(keeper_ran, "history", "--name", "GatewayDown", "--json"))["transitions"] == []


def test_silence_add_list_expire(keeper_ran: Path) -> None:
    dry = as_json(
        run(
            keeper_ran,
            "silence",
            "add",
            "-m",
            "alertname=HostHighCpu",
            "--for",
            "2h",
            "--reason",
            "x",
            "--dry-run",
            "--json",
        )
    )
    assert dry["dry_run"] and dry["silence"]["id"] is None and len(dry["matching_alerts"]) == 1
    assert as_json(run(keeper_ran, "silence", "list", "--json"))["silences"] == []

    added = as_json(
        run(
            keeper_ran,
            "silence",
            "add",
            "--match",
            "alertname=HostHighCpu",
            "--for",
            "2h",
            "--reason",
            "load test",
            "--by",
            "alice",
            "--json",
        )
    )
    silence_id = added["silence"]["id"]
    assert silence_id and added["silence"]["reason"] == "load test"
    listed = as_json(run(keeper_ran, "silence", "list", "--json"))["silences"]
    assert [(s["id"], s["created_by"], s["active"]) for s in listed] == [(silence_id, "alice", True)]
    assert as_json(run(keeper_ran, "--json"))["alerts"][0]["silenced_by"] == silence_id

    as_json(run(keeper_ran, "silence", "expire", silence_id, "--dry-run", "--json"))
    assert as_json(run(keeper_ran, "silence", "list", "--json"))["silences"] != []
    expired = as_json(run(keeper_ran, "silence", "expire", silence_id, "--json"))
    assert expired["was_active"]
    assert as_json(run(keeper_ran, "silence", "list", "--json"))["silences"] == []
    assert as_json(run(keeper_ran, "--json"))["alerts"][0]["silenced_by"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "2h", "--until", "2999-01-01T00:00"], "exactly one of --for and --until"),
        ([], "exactly one of --for and --until"),
        (["--until", "tomorrow"], "is not an ISO date"),
        (["--until", "2001-01-01T00:00:00+00:00"], "end in the past"),
        (["--for", "soon"], "--for: 'soon' is not a duration"),
    ],
)
def test_silence_add_refuses(keeper_ran: Path, args: list[str], message: str) -> None:
    result = run(keeper_ran, "silence", "add", "-m", "alertname=X", "--reason", "r", *args)
    assert isinstance(result.exception, UsageError), result.output
    assert message in result.exception.message


def test_a_silence_needs_a_reason(keeper_ran: Path) -> None:
    result = run(keeper_ran, "silence", "add", "-m", "alertname=X", "--for", "1h")
    assert result.exit_code == 2 and "--reason" in result.output


def test_rules_lists_and_writes_prometheus_and_grafana_files(keeper_ran: Path, tmp_path: Path) -> None:
    rules_file, dash_file = tmp_path / "out" / "clawkeeper.rules.yml", tmp_path / "out" / "dashboard.json"
    doc = as_json(
        run(keeper_ran, "rules", "--prometheus", str(rules_file), "--grafana", str(dash_file), "--json")
    )
    assert len(doc["rules"]) == 11 and doc["written"] == [str(rules_file), str(dash_file)]
    gateway = next(r for r in doc["rules"] if r["name"] == "GatewayNotReady")
    assert (gateway["for_s"], gateway["keep_firing_for_s"], gateway["severity"]) == (120, 60, "critical")
    group = yaml.safe_load(rules_file.read_text())["groups"][0]
    assert group["interval"] == "10s" and len(group["rules"]) == 11
    assert json.loads(dash_file.read_text())["uid"] == "clawkeeper"
    for path in (rules_file, dash_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # Prometheus and Grafana read them as other users
    table = run(keeper_ran, "rules")
    assert "DataVolumeDrop" in out(table)


def test_a_broken_rule_file_is_a_config_error(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "X"\nmetric = "m"\n')
    config.write_text(config.read_text() + f'\n[monitor.rules]\nrule_files = ["{bad}"]\n')
    result = run(config, "rules")
    assert result.exception is not None and result.exception.__class__.__name__ == "RuleFileError"
    assert f"{bad}:1: rule 'X': `threshold` is required" in str(result.exception)


def test_before_the_keeper_ever_ran(config: Path) -> None:
    doc = as_json(run(config, "--json"))
    assert doc["alerts"] == [] and "clawkeeper up" in doc["note"]
    assert as_json(run(config, "history", "--json"))["transitions"] == []
    explained = as_json(run(config, "explain", "GatewayDown", "--json"))
    assert explained["reasons"] == [
        "Not evaluated yet: the keeper (`clawkeeper up`) evaluates the rules while it runs."
    ]
