"""`clawkeeper metrics` as a user runs it, on a real monitor database filled by the store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from clawkeeper.cli import metrics_cmd
from clawkeeper.cli.context import AppContext
from clawkeeper.cli.render import console
from clawkeeper.errors import LedgerError, NotFound, UsageError
from clawkeeper.ledger import Ledger
from clawkeeper.monitor.model import MetricKind, Sample, labels_of
from clawkeeper.monitor.tsdb import TimeSeriesStore

GIB = 1024**3


def make_app(config: Path) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = AppContext(config_file=config)
        ctx.call_on_close(ctx.obj.close)

    app.command("metrics")(metrics_cmd.metrics)
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
def filled(tmp_path: Path) -> Path:
    """An hour of a keeper's data ending now: gauges, a counter with two series, a stale metric."""
    now = time.time()
    path = tmp_path / "monitor.sqlite"
    samples = []
    for i in range(360):
        ts = now - 3600 + 10 * i
        samples.append(Sample("host_cpu_percent", 20.0 + (i % 60), ts))
        samples.append(Sample("host_memory_available_bytes", 2.0 * GIB, ts))
        samples += [
            Sample("agent_log_lines_total", float(i * 2), ts, labels_of(level="info"), MetricKind.COUNTER),
            Sample("agent_log_lines_total", float(i // 60), ts, labels_of(level="error"), MetricKind.COUNTER),
        ]
        samples.append(Sample("gateway_ready", 1.0, ts))
    with TimeSeriesStore(path) as store:
        store.write(samples)
        store.maintain(now)
        store.mark_stale("gateway", ["gateway_ready"], now, "ConnectError: connection refused")
    return path


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_width", 200)  # without a terminal rich would wrap at 80 columns


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(make_app(config), ["metrics", *args])


def table_rows(output: str) -> dict[str, list[str]]:
    """First cell → cells of each table row (rich draws cells between │)."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows[cells[0]] = cells
    return rows


def test_the_table_lists_every_metric_with_latest_value_trend_and_staleness(
    config: Path, filled: Path
) -> None:
    result = run(config)

    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    names = {"host_cpu_percent", "host_memory_available_bytes", "agent_log_lines_total", "gateway_ready"}
    assert set(rows) >= names
    _, count, latest, _, trend, stale = rows["host_cpu_percent"]
    assert (count, latest, stale) == ("1", "79.0%", "")  # the newest sample: 20 + 59
    assert len(trend) == metrics_cmd.SLOTS and "█" in trend and "▁" in trend
    assert rows["host_memory_available_bytes"][2] == "2.0 GiB"
    assert rows["agent_log_lines_total"][1:3] == ["2", "5 … 718"]  # two series: lowest … highest
    assert rows["gateway_ready"][5].startswith("stale ConnectError")


def test_a_counter_trend_shows_growth_per_slot(config: Path, filled: Path) -> None:
    result = run(config, "agent_log_lines_total", "--label", "level=error")

    # the error counter grows by one every ten minutes: one slot in five (two-minute slots) rises
    [trend] = [cells[3] for name, cells in table_rows(result.output).items() if name == "level=error"]
    assert trend.count("▁") >= 20
    assert 5 <= sum(1 for ch in trend if ch in "▆▇█") <= 7


def test_a_metric_name_shows_one_row_per_series(config: Path, filled: Path) -> None:
    result = run(config, "agent_log_lines_total", "--since", "30m")

    assert result.exit_code == 0, result.output
    assert "agent_log_lines_total (counter)" in result.output
    assert "level=error" in result.output and "level=info" in result.output
    assert "trend (30m)" in result.output


def test_json_has_latest_values_and_points_on_request(config: Path, filled: Path) -> None:
    plain = json.loads(run(config, "--json").output)
    with_points = json.loads(
        run(config, "host_cpu_percent", "--json", "--points", "--since", "10m", "--step", "1m").output
    )

    assert plain["kind"] == "metrics"
    by_name = {m["name"]: m for m in plain["metrics"]}
    assert by_name["agent_log_lines_total"]["kind"] == "counter"
    assert len(by_name["agent_log_lines_total"]["series"]) == 2
    assert by_name["gateway_ready"]["series"][0]["stale"] is True
    assert "points" not in by_name["host_cpu_percent"]["series"][0]
    [cpu] = with_points["metrics"]
    [series] = cpu["series"]
    assert series["latest"]["value"] == 79.0
    assert 9 <= len(series["points"]) <= 11  # ten one-minute buckets in ten minutes
    assert series["resolution"] == "1m"


def test_label_matchers_filter_series(config: Path, filled: Path) -> None:
    doc = json.loads(run(config, "agent_log_lines_total", "--label", "level=~err.*", "--json").output)

    [metric] = doc["metrics"]
    assert [s["labels"] for s in metric["series"]] == [{"level": "error"}]


def test_the_command_is_recorded_in_the_ledger(config: Path, filled: Path, tmp_path: Path) -> None:
    run(config, "--json")

    ledger = Ledger(tmp_path / "ledger.sqlite")
    try:
        [record] = ledger.recent_runs(limit=5, command="metrics")
    finally:
        ledger.close()
    assert record.outcome == "ok"


def test_an_unknown_metric_is_not_found_with_a_hint(config: Path, filled: Path) -> None:
    result = run(config, "host_cpu_percnt")

    assert isinstance(result.exception, NotFound)
    assert "`clawkeeper metrics` lists them" in result.exception.one_line()


def test_a_label_filter_matching_nothing_names_the_selector(config: Path, filled: Path) -> None:
    result = run(config, "agent_log_lines_total", "--label", "level=fatal")

    assert isinstance(result.exception, NotFound)
    assert 'level="fatal"' in result.exception.one_line()


def test_without_a_database_the_user_is_told_to_start_the_keeper(config: Path) -> None:
    result = run(config)

    assert isinstance(result.exception, LedgerError)
    assert "clawkeeper up" in result.exception.one_line()


def test_the_db_option_overrides_the_configured_path(config: Path, filled: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.sqlite"
    with TimeSeriesStore(other) as store:
        store.write([Sample("keeper_up", 1.0, time.time())])

    doc = json.loads(run(config, "--db", str(other), "--json").output)

    assert [m["name"] for m in doc["metrics"]] == ["keeper_up"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "0s"], "longer than zero"),
        (["--label", "level"], "not a label matcher"),
        (["--points"], "only apply to --json"),
    ],
)
def test_bad_options_are_usage_errors(config: Path, filled: Path, args: list[str], message: str) -> None:
    result = run(config, *args)

    assert isinstance(result.exception, UsageError)
    assert message in result.exception.one_line()
