"""What the rule engine remembers and reports: instances, transitions, per-rule evaluation status."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from clawkeeper.monitor.model import AlertState, Labels
from clawkeeper.monitor.rules.transitions import InstanceState


@dataclass(frozen=True)
class StoredInstance:
    """An active (pending or firing) alert instance as persisted between evaluations."""

    fingerprint: str
    rule: str
    labels: Labels  # the alert's labels: series labels + rule labels + severity + alertname
    series_labels: Labels  # what `$labels` means in templates
    state: InstanceState
    value: float | None
    annotations: tuple[tuple[str, str], ...]
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.rule,
            "state": self.state.state.value,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "value": json_number(self.value),
            "active_since": self.state.active_since,
            "fired_at": self.state.fired_at,
            "cleared_since": self.state.cleared_since,
            "flapping": self.state.flapping,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Transition:
    """One change of one alert instance, kept in a bounded history."""

    at: float
    rule: str
    fingerprint: str
    labels: Labels
    from_state: AlertState
    to_state: AlertState
    value: float | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "name": self.rule,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "from": self.from_state.value,
            "to": self.to_state.value,
            "value": json_number(self.value),
            "note": self.note,
        }


@dataclass(frozen=True)
class SeriesOutcome:
    """One label set of one rule at one evaluation: what `alerts explain` shows."""

    labels: Labels  # series labels
    value: float | None
    baseline: float | None
    threshold: float  # the threshold in force (scaled by the baseline, hysteresis applied)
    condition: bool
    stale: bool
    state: AlertState
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "value": json_number(self.value),
            "baseline": json_number(self.baseline),
            "threshold": json_number(self.threshold),
            "condition": self.condition,
            "stale": self.stale,
            "state": self.state.value,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesOutcome:
        return cls(
            labels=tuple(sorted((str(k), str(v)) for k, v in dict(data.get("labels", {})).items())),
            value=_float_or_none(data.get("value")),
            baseline=_float_or_none(data.get("baseline")),
            threshold=float(data.get("threshold", 0.0)),
            condition=bool(data.get("condition")),
            stale=bool(data.get("stale")),
            state=AlertState(str(data.get("state", "inactive"))),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class RuleStatus:
    """The last evaluation of one rule."""

    rule: str
    evaluated_at: float
    duration_s: float
    error: str | None
    series: tuple[SeriesOutcome, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.rule,
            "evaluated_at": self.evaluated_at,
            "duration_s": self.duration_s,
            "error": self.error,
            "series": [s.to_json() for s in self.series],
        }


def json_number(value: float | None) -> float | str | None:
    """A number for JSON: +Inf, -Inf and NaN as strings (as Prometheus' HTTP API writes them)."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
