"""The generated Grafana dashboard: a valid JSON model with a row per area and the rule thresholds."""

from __future__ import annotations

import json
from typing import Any

from clawkeeper.monitor.grafana import SCHEMA_VERSION, collector_metric_infos, dashboard
from clawkeeper.monitor.rules.defaults import default_rules
from clawkeeper.monitor.settings import MonitorSettings


def build() -> dict[str, Any]:
    doc = dashboard(collector_metric_infos(), default_rules(MonitorSettings()))
    return json.loads(json.dumps(doc))  # plain JSON, as written to the file


def panels_by_title(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in doc["panels"]}


def test_dashboard_model_is_well_formed() -> None:
    doc = build()
    assert doc["schemaVersion"] == SCHEMA_VERSION and doc["uid"] == "clawkeeper"
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] in ("timeseries", "stat", "table"):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert all(t["expr"] and t["refId"] for t in panel["targets"])


def test_a_row_per_area_in_order_and_the_alert_list() -> None:
    doc = build()
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Alerts", "Host", "Gateway", "Agent", "Data", "Backup and updates", "Keeper and schedule"]
    assert any(p["type"] == "alertlist" for p in doc["panels"])
    alerts_table = panels_by_title(doc)["Firing and pending (ALERTS)"]
    assert "HostHighCpu" in alerts_table["targets"][0]["expr"]


def test_panels_plot_gauges_and_counter_rates_with_rule_thresholds() -> None:
    panels = panels_by_title(build())
    cpu = panels["host_cpu_percent"]
    assert cpu["targets"][0]["expr"] == 'clawkeeper_host_cpu_percent{instance=~"$instance"}'
    assert cpu["fieldConfig"]["defaults"]["unit"] == "percent"
    steps = cpu["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 85]
    errors = panels["agent_log_errors_total (per second)"]
    assert errors["targets"][0]["expr"].startswith("rate(clawkeeper_agent_log_errors_total{")
    assert [s["value"] for s in errors["fieldConfig"]["defaults"]["thresholds"]["steps"]][1] == 5 / 60
    # job_last_failed has no collector entry; the rule that watches it brings its panel along
    assert "job_last_failed" in panels
