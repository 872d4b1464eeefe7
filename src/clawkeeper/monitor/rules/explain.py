"""Why an alert is, or is not, firing: what `clawkeeper alerts explain NAME` shows.

Built from what the keeper persisted (the rule's last evaluation, its active instances, the
transition history and the silences), so it works from another process while the keeper runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.model import AlertState, Labels
from clawkeeper.monitor.rules.engine import alert_labels
from clawkeeper.monitor.rules.promql import to_promql
from clawkeeper.monitor.rules.records import (
    RuleStatus,
    SeriesOutcome,
    StoredInstance,
    Transition,
    json_number,
)
from clawkeeper.monitor.rules.silences import Silence
from clawkeeper.monitor.rules.spec import Op, RuleSpec, describe
from clawkeeper.monitor.rules.templating import humanize_duration

_OP_TEXT = {Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<=", Op.EQ: "==", Op.NE: "!="}


def when(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_value(rule: RuleSpec, value: float | None) -> str:
    """A value as a person reads it: durations for `_seconds` metrics, 4 significant digits else."""
    if value is None:
        return "no value"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if rule.metric.endswith("_seconds") and rule.reduction.value in ("last", "avg", "min", "max"):
        return humanize_duration(value)
    return f"{value:.4g}"


def labels_text(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else "{}"


@dataclass(frozen=True)
class Explanation:
    rule: RuleSpec
    enabled: bool
    words: str
    promql: str
    status: RuleStatus | None
    instances: tuple[StoredInstance, ...]
    history: tuple[Transition, ...]  # newest first
    silences: tuple[Silence, ...]  # active silences that match one of its alerts
    reasons: tuple[str, ...]  # why it is (not) firing, one line per label set

    def to_json(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "name": rule.name,
            "enabled": self.enabled,
            "source": rule.source,
            "rule": self.words,
            "promql": self.promql,
            "severity": rule.severity,
            "threshold": json_number(rule.threshold),
            "resolve_threshold": json_number(rule.resolve_threshold),
            "for_s": rule.for_s,
            "keep_firing_for_s": rule.keep_firing_for_s,
            "last_evaluation": self.status.to_json() if self.status else None,
            "alerts": [i.to_json() for i in self.instances],
            "history": [t.to_json() for t in self.history],
            "silences": [s.to_json() for s in self.silences],
            "reasons": list(self.reasons),
        }


def explain(
    rule: RuleSpec,
    *,
    enabled: bool,
    status: RuleStatus | None,
    instances: Sequence[StoredInstance],
    history: Sequence[Transition],
    silences: Sequence[Silence],
    now: float,
    stale_after: float,
) -> Explanation:
    """`stale_after`: how old the last evaluation may be before the keeper looks stopped."""
    mine = tuple(i for i in instances if i.rule == rule.name)
    matching = tuple(s for s in silences if s.active(now) and _silences_rule(s, rule, mine))
    reasons = _reasons(rule, enabled, status, mine, matching, now, stale_after)
    return Explanation(
        rule=rule,
        enabled=enabled,
        words=describe(rule),
        promql=to_promql(rule),
        status=status,
        instances=mine,
        history=tuple(history),
        silences=matching,
        reasons=tuple(reasons),
    )


def _silences_rule(silence: Silence, rule: RuleSpec, instances: Sequence[StoredInstance]) -> bool:
    if any(silence.matches(i.labels) for i in instances):
        return True
    return silence.matches(alert_labels(rule, ()))


def _reasons(
    rule: RuleSpec,
    enabled: bool,
    status: RuleStatus | None,
    instances: Sequence[StoredInstance],
    silences: Sequence[Silence],
    now: float,
    stale_after: float,
) -> list[str]:
    if not enabled:
        return [
            f"Disabled: [monitor.rules.overrides.{rule.name}] enabled = false (or the rule file says so)."
        ]
    if status is None:
        return ["Not evaluated yet: the keeper (`clawkeeper up`) evaluates the rules while it runs."]
    out = []
    age = now - status.evaluated_at
    if age > stale_after:
        out.append(
            f"Last evaluated {format_duration(age)} ago ({when(status.evaluated_at)}): is the keeper "
            "running? What follows may be out of date."
        )
    if status.error:
        out.append(f"The last evaluation reported: {status.error}")
    if not status.series and not status.error:
        out.append(
            f"No data: the store has no {rule.metric} series matching the rule, so it cannot fire "
            "(is its collector enabled and working? `clawkeeper metrics` lists what is stored)."
        )
    by_labels = {i.series_labels: i for i in instances}
    for outcome in status.series:
        out.append(_series_reason(rule, outcome, by_labels.get(outcome.labels), now))
    for silence in silences:
        out.append(
            f"Silenced by {silence.id} until {when(silence.ends_at)} ({silence.reason}, by "
            f"{silence.created_by}): it is evaluated but not notified."
        )
    return out


def _series_reason(
    rule: RuleSpec, outcome: SeriesOutcome, instance: StoredInstance | None, now: float
) -> str:
    who = f"{labels_text(outcome.labels)}: " if outcome.labels else ""
    value = format_value(rule, outcome.value)
    threshold = format_value(rule, outcome.threshold)
    if outcome.value is None:
        return f"{who}no value ({outcome.note or 'no data in the window'}), so not firing."
    state = instance.state if instance is not None else None
    firing = state is not None and state.state is AlertState.FIRING
    if firing and rule.resolve_threshold is not None:
        back = "below" if rule.op.upward else "above"
        compared = f"value {value}, resolves when {back} {threshold}"
    else:
        compared = f"value {value} vs threshold {threshold}"
    if rule.baseline is not None:
        base = "none" if outcome.baseline is None else f"{outcome.baseline:.4g}"
        compared += f" (baseline {base}, minimum {rule.baseline.min_value:g})"
        if outcome.baseline is not None and outcome.baseline < rule.baseline.min_value:
            return f"{who}{compared}: too little traffic in the baseline to judge, so not firing."
    stale = f" (stale: {outcome.note})" if outcome.stale else ""
    if state is not None and state.state is AlertState.PENDING:
        fires_at = state.active_since + rule.for_s
        return (
            f"{who}PENDING since {when(state.active_since)}: {compared}{stale}; fires at "
            f"{when(fires_at)} ({format_duration(max(0.0, fires_at - now))} from now) if it holds."
        )
    if state is not None and state.state is AlertState.FIRING:
        text = f"{who}FIRING since {when(state.fired_at)}: {compared}{stale}"
        if state.cleared_since is not None:
            why = "flapping" if state.flapping else "keep_firing_for"
            text += f"; the condition is false since {when(state.cleared_since)}, held by {why}"
        elif state.flapping:
            text += "; marked flapping (it resolves after the condition is false for a while)"
        return text + "."
    op = _OP_TEXT[rule.op]
    return f"{who}not firing: {compared}{stale}; the rule needs {op} {threshold}."
