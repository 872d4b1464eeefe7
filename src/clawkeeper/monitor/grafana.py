"""A Grafana dashboard for clawkeeper's /metrics, generated from the metric catalogue and the rules.

`dashboard(metric_infos, rules)` returns the dashboard JSON model (schemaVersion 39, Grafana 10/11):
a `datasource` variable (any Prometheus) and an `instance` variable, an alerts row (Grafana's
alert list, a table of the `ALERTS` series, and the rules in words), then one row per area —
host, gateway, agent, data, backup, keeper — with a time-series panel per metric. Gauges are
plotted as they are, counters as a per-second `rate()`. A panel whose metric a rule watches shows
the rule's threshold as a red line. Import it in Grafana (Dashboards -> New -> Import).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from clawkeeper.monitor.model import MetricInfo, MetricKind
from clawkeeper.monitor.rules.promql import exported
from clawkeeper.monitor.rules.spec import Reduction, RuleSpec, describe

SCHEMA_VERSION = 39
UID = "clawkeeper"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
AREAS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (key, row title, metric name prefixes)
    ("host", "Host", ("host_",)),
    ("gateway", "Gateway", ("gateway_",)),
    ("agent", "Agent", ("agent_",)),
    ("data", "Data", ("data_",)),
    ("backup", "Backup and updates", ("backup_", "update_")),
    ("keeper", "Keeper and schedule", ("keeper_", "job_")),
)
PANEL_W, PANEL_H, PER_ROW = 8, 8, 3
_GAUGE_REDUCTIONS = (Reduction.LAST, Reduction.AVG, Reduction.MIN, Reduction.MAX)
_UNITS = {"seconds": "s", "bytes": "bytes", "percent": "percent", "ratio": "percentunit"}
_RATE_UNITS = {"seconds": "percentunit", "bytes": "Bps", "": "cps"}


def area_of(metric: str) -> str:
    return next((key for key, _, prefixes in AREAS if metric.startswith(prefixes)), "keeper")


def _unit(info: MetricInfo) -> str:
    if info.kind is MetricKind.COUNTER:
        return _RATE_UNITS.get(info.unit, "short")
    return _UNITS.get(info.unit, "short")


def _expr(info: MetricInfo) -> str:
    selector = f'{exported(info.name)}{{instance=~"$instance"}}'
    if info.kind is MetricKind.COUNTER:
        return f"rate({selector}[$__rate_interval])"
    return selector


def _legend(info: MetricInfo) -> str:
    parts = [f"{{{{{label}}}}}" for label in info.labels]
    return " ".join(parts) if parts else "{{instance}}"


def _thresholds(info: MetricInfo, rules: Sequence[RuleSpec]) -> list[float]:
    """Rule thresholds in the panel's own terms (gauge values, or per-second rates)."""
    out = []
    for rule in rules:
        if rule.metric != info.name or rule.baseline is not None or not rule.enabled:
            continue
        if info.kind is MetricKind.COUNTER:
            if rule.reduction is Reduction.RATE:
                out.append(rule.threshold)
            elif rule.reduction is Reduction.RATE_PER_MINUTE:
                out.append(rule.threshold / 60)
        elif rule.reduction in _GAUGE_REDUCTIONS and math.isfinite(rule.threshold):
            out.append(rule.threshold)
    return sorted(set(out))


def _panel(panel_id: int, info: MetricInfo, rules: Sequence[RuleSpec], x: int, y: int) -> dict[str, Any]:
    title = info.name + (" (per second)" if info.kind is MetricKind.COUNTER else "")
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": "red", "value": t} for t in _thresholds(info, rules)]
    if info.name.endswith("_info"):
        return {
            "id": panel_id,
            "type": "stat",
            "title": info.name,
            "description": info.help,
            "datasource": DATASOURCE,
            "gridPos": {"h": PANEL_H, "w": PANEL_W, "x": x, "y": y},
            "targets": [
                {
                    "refId": "A",
                    "datasource": DATASOURCE,
                    "expr": _expr(info),
                    "legendFormat": _legend(info),
                    "instant": True,
                }
            ],
            "options": {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "name",
                "colorMode": "none",
                "graphMode": "none",
            },
            "fieldConfig": {"defaults": {}, "overrides": []},
        }
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": info.help,
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_H, "w": PANEL_W, "x": x, "y": y},
        "targets": [
            {"refId": "A", "datasource": DATASOURCE, "expr": _expr(info), "legendFormat": _legend(info)}
        ],
        "fieldConfig": {
            "defaults": {
                "unit": _unit(info),
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": "line" if len(steps) > 1 else "off"}},
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    }


def _alerts_row(next_id: int, rules: Sequence[RuleSpec]) -> tuple[list[dict[str, Any]], int]:
    names = "|".join(r.name for r in rules if r.enabled) or "none"
    lines = ["| alert | severity | rule |", "|---|---|---|"]
    lines += [f"| {r.name} | {r.severity} | {describe(r).replace('|', '/')} |" for r in rules if r.enabled]
    panels: list[dict[str, Any]] = [
        {
            "id": next_id,
            "type": "row",
            "title": "Alerts",
            "collapsed": False,
            "panels": [],
            "gridPos": _row(0),
        },
        {
            "id": next_id + 1,
            "type": "alertlist",
            "title": "Alerts (Grafana alerting)",
            "gridPos": {"h": 8, "w": 8, "x": 0, "y": 1},
            "options": {
                "viewMode": "list",
                "groupMode": "default",
                "groupBy": [],
                "maxItems": 50,
                "sortOrder": 1,
                "dashboardAlerts": False,
                "alertName": "",
                "alertInstanceLabelFilter": "",
                "stateFilter": {
                    "firing": True,
                    "pending": True,
                    "noData": False,
                    "normal": False,
                    "error": True,
                },
            },
        },
        {
            "id": next_id + 2,
            "type": "table",
            "title": "Firing and pending (ALERTS)",
            "description": "clawkeeper's rules, as evaluated by the keeper or by this Prometheus.",
            "datasource": DATASOURCE,
            "gridPos": {"h": 8, "w": 8, "x": 8, "y": 1},
            "targets": [
                {
                    "refId": "A",
                    "datasource": DATASOURCE,
                    "expr": f'ALERTS{{alertname=~"{names}"}}',
                    "format": "table",
                    "instant": True,
                }
            ],
            "options": {"showHeader": True},
            "fieldConfig": {"defaults": {}, "overrides": []},
            "transformations": [
                {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}
            ],
        },
        {
            "id": next_id + 3,
            "type": "text",
            "title": "Rules",
            "gridPos": {"h": 8, "w": 8, "x": 16, "y": 1},
            "options": {"mode": "markdown", "content": "\n".join(lines)},
        },
    ]
    return panels, next_id + 4


def _row(y: int) -> dict[str, int]:
    return {"h": 1, "w": 24, "x": 0, "y": y}


def collector_metric_infos() -> list[MetricInfo]:
    """What the keeper's collectors promise to produce (their `METRICS` tables)."""
    from clawkeeper.monitor.collectors import (
        agent_log,
        backup,
        data_quality,
        gateway,
        gateway_rpc,
        host,
        keeper,
        process,
        releases,
    )

    modules = (host, process, gateway, gateway_rpc, agent_log, data_quality, backup, releases, keeper)
    return [info for module in modules for info in module.METRICS]


def dashboard(metric_infos: Sequence[MetricInfo], rules: Sequence[RuleSpec]) -> dict[str, Any]:
    """The dashboard JSON model. Metrics a rule watches but the catalogue lacks are added."""
    infos = {i.name: i for i in metric_infos}
    for rule in rules:
        if rule.metric not in infos:
            kind = MetricKind.COUNTER if rule.metric.endswith("_total") else MetricKind.GAUGE
            labels = tuple(sorted({m.label for m in rule.matchers}))
            infos[rule.metric] = MetricInfo(rule.metric, kind, f"Watched by {rule.name}.", labels=labels)
    panels, next_id = _alerts_row(1, rules)
    y = 9
    for key, title, _ in AREAS:
        members = sorted((i for i in infos.values() if area_of(i.name) == key), key=lambda i: i.name)
        if not members:
            continue
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": _row(y),
            }
        )
        next_id += 1
        y += 1
        for index, info in enumerate(members):
            column = index % PER_ROW
            if index and column == 0:
                y += PANEL_H
            panels.append(_panel(next_id, info, rules, column * PANEL_W, y))
            next_id += 1
        y += PANEL_H
    return {
        "uid": UID,
        "title": "clawkeeper",
        "description": "An OpenClaw agent and its host, as clawkeeper's keeper sees them.",
        "tags": ["clawkeeper", "openclaw"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "options": [],
                },
                {
                    "name": "instance",
                    "label": "Keeper",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {"query": "label_values(clawkeeper_keeper_up, instance)", "refId": "instance"},
                    "definition": "label_values(clawkeeper_keeper_up, instance)",
                    "current": {},
                    "hide": 0,
                    "refresh": 2,
                    "includeAll": True,
                    "allValue": ".*",
                    "multi": True,
                    "options": [],
                    "sort": 1,
                },
            ]
        },
        "panels": panels,
    }
