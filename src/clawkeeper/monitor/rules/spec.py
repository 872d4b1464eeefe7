"""What an alert rule says: a metric, a reduction over a window, a comparison, and timings.

A rule is evaluated per label set, like a Prometheus alerting rule: every series of `metric` that
matches `matchers` yields one value (`reduction` over `window`), and every label set whose value
satisfies the comparison becomes one alert instance. Durations are seconds.

    RuleSpec(name="HostHighCpu", metric="host_cpu_percent", reduction=Reduction.AVG,
             window=300, op=Op.GT, threshold=85, resolve_threshold=75, for_s=300)

`validate_rule` checks a spec and returns the first problem as one sentence (or None); specs built
in code are checked in `__post_init__`, rule files report the same sentences with file:line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.model import Matcher, MatchOp

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

ALERT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"alertname", "alertstate", "__name__"})
DEFAULT_WINDOW = 300.0  # Prometheus' lookback delta: how long a `last` value stays current


class RuleSpecError(ValueError):
    """A rule spec is inconsistent: `problem` is the sentence, `key` the rule-file key at fault."""

    def __init__(self, name: str, key: str, problem: str) -> None:
        super().__init__(f"rule {name!r}: {problem}")
        self.name = name
        self.key = key
        self.problem = problem


class Reduction(StrEnum):
    """How a series' points in the window become one value."""

    LAST = "last"  # the newest point, if it is younger than the window (else the series is stale)
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    RATE = "rate"  # per-second growth of a counter (resets handled, Prometheus extrapolation)
    RATE_PER_MINUTE = "rate_per_minute"
    INCREASE = "increase"  # growth of a counter over the window
    ABSENT = "absent"  # 1 when no matching series has a point in the window; nothing otherwise


class Op(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def holds(self, value: float, threshold: float) -> bool:
        if self is Op.GT:
            return value > threshold
        if self is Op.GE:
            return value >= threshold
        if self is Op.LT:
            return value < threshold
        if self is Op.LE:
            return value <= threshold
        if self is Op.EQ:
            return value == threshold
        return value != threshold

    @property
    def upward(self) -> bool:
        """True for `>`/`>=` (the alert is about a value too high)."""
        return self in (Op.GT, Op.GE)

    @property
    def downward(self) -> bool:
        return self in (Op.LT, Op.LE)


class Aggregate(StrEnum):
    """How the values of several series are combined when a rule has `group_by`."""

    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"


@dataclass(frozen=True)
class Baseline:
    """Compare the value with the same reduction over a longer, earlier window.

    The rule's `threshold` (and `resolve_threshold`) then are ratios of the baseline: `value <
    0.2 x baseline`. For `increase` the baseline is scaled to the rule's window (the hourly average
    of the previous day); for the other reductions it is the reduction over the longer window.
    A baseline below `min_value` means too little traffic to judge: the rule stays quiet.
    """

    window: float  # e.g. one day
    min_value: float = 0.0
    offset: float | None = None  # how far back the baseline window ends; None: the rule's window

    def end_offset(self, rule_window: float) -> float:
        return rule_window if self.offset is None else self.offset


@dataclass(frozen=True)
class RuleSpec:
    name: str  # the alert name (label `alertname`)
    metric: str  # store name, e.g. host_cpu_percent (exported as clawkeeper_host_cpu_percent)
    threshold: float = 0.0
    op: Op = Op.GT
    reduction: Reduction = Reduction.LAST
    window: float = DEFAULT_WINDOW
    matchers: tuple[Matcher, ...] = ()
    resolve_threshold: float | None = None  # hysteresis: once firing, held until this is crossed
    baseline: Baseline | None = None
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    severity: Severity = "warning"
    labels: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    description: str = ""
    runbook: str = ""
    annotations: tuple[tuple[str, str], ...] = ()  # more annotations besides the three above
    treat_stale_as: float | None = None  # value for a stale or missing series; None: no value
    group_by: tuple[str, ...] | None = None  # aggregate the series by these labels first
    aggregate: Aggregate = Aggregate.SUM
    enabled: bool = True
    source: str = "built-in"  # "built-in" or "file:line" of a user rule

    def __post_init__(self) -> None:
        found = rule_problem(self)
        if found is not None:
            raise RuleSpecError(self.name, *found)

    @property
    def builtin(self) -> bool:
        return self.source == "built-in"

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def all_annotations(self) -> dict[str, str]:
        out = {"summary": self.summary, "description": self.description, "runbook": self.runbook}
        out.update(self.annotations)
        return {k: v for k, v in out.items() if v}

    def effective_threshold(self, baseline: float | None) -> float:
        return (
            self.threshold * baseline
            if self.baseline is not None and baseline is not None
            else self.threshold
        )

    def effective_resolve(self, baseline: float | None) -> float | None:
        if self.resolve_threshold is None:
            return None
        if self.baseline is not None and baseline is not None:
            return self.resolve_threshold * baseline
        return self.resolve_threshold

    def holds(self, value: float, *, firing: bool, baseline: float | None = None) -> bool:
        """Is the condition true for `value`? `firing` applies the resolve threshold (hysteresis)."""
        if math.isnan(value):
            return False
        if self.baseline is not None and (baseline is None or baseline < self.baseline.min_value):
            return False
        resolve = self.effective_resolve(baseline)
        if firing and resolve is not None:
            # held until the value crosses the resolve threshold
            return value >= resolve if self.op.upward else value <= resolve
        return self.op.holds(value, self.effective_threshold(baseline))


def validate_rule(rule: RuleSpec) -> str | None:
    """The first thing wrong with `rule`, as one sentence, or None."""
    found = rule_problem(rule)
    return None if found is None else found[1]


def rule_problem(rule: RuleSpec) -> tuple[str, str] | None:
    """(the rule-file key at fault, the problem as one sentence), or None."""
    if not ALERT_NAME_RE.match(rule.name):
        return "name", "the name must be letters, digits and '_' (starting with a letter), e.g. GatewaySlow"
    if not METRIC_NAME_RE.match(rule.metric):
        return "metric", f"metric {rule.metric!r} is not a metric name (letters, digits, '_' and ':')"
    for value, key in ((rule.threshold, "threshold"), (rule.resolve_threshold, "resolve_threshold")):
        if value is not None and math.isnan(value):
            return key, f"{key} must be a number"
    if rule.window <= 0:
        return "window", "window must be longer than 0"
    for number, key in ((rule.for_s, "for"), (rule.keep_firing_for_s, "keep_firing_for")):
        if number < 0 or math.isinf(number):
            return key, f"{key} must be a duration of 0 or more"
    if rule.severity not in SEVERITIES:
        return "severity", f"severity must be one of {', '.join(SEVERITIES)}"
    for m in rule.matchers:
        if not LABEL_NAME_RE.match(m.label):
            return "matchers", f"matcher label {m.label!r} is not a label name"
    for key, _ in rule.labels:
        if not LABEL_NAME_RE.match(key) or key in RESERVED_LABELS or key == "severity":
            return "labels", f"label {key!r} cannot be set (severity has its own key; alertname is the name)"
    for key, _ in rule.annotations:
        if not LABEL_NAME_RE.match(key):
            return "annotations", f"annotation name {key!r} must be letters, digits and '_'"
    if rule.resolve_threshold is not None:
        if not (rule.op.upward or rule.op.downward):
            return "resolve_threshold", "resolve_threshold needs a comparison of >, >=, < or <="
        if rule.op.upward and rule.resolve_threshold > rule.threshold:
            return "resolve_threshold", (
                f"resolve_threshold {rule.resolve_threshold:g} must not be above threshold "
                f"{rule.threshold:g} for an alert on values {rule.op.value} the threshold"
            )
        if rule.op.downward and rule.resolve_threshold < rule.threshold:
            return "resolve_threshold", (
                f"resolve_threshold {rule.resolve_threshold:g} must not be below threshold "
                f"{rule.threshold:g} for an alert on values {rule.op.value} the threshold"
            )
    extras = rule.baseline is not None or rule.group_by is not None or rule.treat_stale_as is not None
    if rule.reduction is Reduction.ABSENT and extras:
        return "reduce", "an `absent` rule cannot have a baseline, group_by or treat_stale_as"
    if rule.baseline is not None:
        if rule.baseline.window <= rule.window:
            return "baseline", "the baseline window must be longer than the rule's window"
        if rule.baseline.end_offset(rule.window) < 0 or rule.baseline.min_value < 0:
            return "baseline", "baseline offset and min must not be negative"
        if rule.treat_stale_as is not None:
            return "treat_stale_as", "a rule with a baseline cannot have treat_stale_as"
    if rule.group_by is not None:
        if rule.treat_stale_as is not None:
            return "treat_stale_as", "a rule with group_by cannot have treat_stale_as"
        for label in rule.group_by:
            if not LABEL_NAME_RE.match(label):
                return "group_by", f"group_by label {label!r} is not a label name"
    return None


def equality_labels(matchers: tuple[Matcher, ...]) -> tuple[tuple[str, str], ...]:
    """The labels an absent/missing series is reported with (as Prometheus' `absent()` does)."""
    return tuple(sorted((m.label, m.value) for m in matchers if m.op is MatchOp.EQ))


_REDUCTION_WORDS = {
    Reduction.LAST: "{metric}",
    Reduction.AVG: "the {window} average of {metric}",
    Reduction.MIN: "the {window} minimum of {metric}",
    Reduction.MAX: "the {window} maximum of {metric}",
    Reduction.RATE: "the per-second rate of {metric} over {window}",
    Reduction.RATE_PER_MINUTE: "the per-minute rate of {metric} over {window}",
    Reduction.INCREASE: "the increase of {metric} over {window}",
}
_OP_WORDS = {
    Op.GT: "above",
    Op.GE: "at or above",
    Op.LT: "below",
    Op.LE: "at or below",
    Op.EQ: "equal to",
    Op.NE: "not equal to",
}


def selector_text(rule: RuleSpec) -> str:
    if not rule.matchers:
        return rule.metric
    inner = ",".join(f'{m.label}{m.op.value}"{m.value}"' for m in rule.matchers)
    return f"{rule.metric}{{{inner}}}"


def threshold_text(rule: RuleSpec, value: float) -> str:
    """A threshold as written for people: durations for `_seconds` gauges (26h), else the number."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    durations = rule.reduction in (Reduction.LAST, Reduction.AVG, Reduction.MIN, Reduction.MAX)
    if durations and rule.metric.endswith("_seconds") and value > 0 and rule.baseline is None:
        return format_duration(value)
    return f"{value:g}"


def describe(rule: RuleSpec) -> str:
    """The rule in one or two plain sentences, for `alerts explain` and `alerts rules`."""
    metric = selector_text(rule)
    window = format_duration(rule.window)
    if rule.reduction is Reduction.ABSENT:
        text = f"Fires when no {metric} sample arrived in the last {window}"
    else:
        subject = _REDUCTION_WORDS[rule.reduction].format(metric=metric, window=window)
        if rule.group_by is not None:
            by = ", ".join(rule.group_by) or "everything"
            subject = f"the {rule.aggregate.value} by {by} of {subject}"
        if rule.baseline is not None:
            base_window = format_duration(rule.baseline.window)
            scaled = f"per {window} " if rule.reduction is Reduction.INCREASE else ""
            target = (
                f"{rule.threshold:g} x its {scaled}average over the {base_window} before "
                f"(checked only while that average is at least {rule.baseline.min_value:g})"
            )
        else:
            target = threshold_text(rule, rule.threshold)
        text = f"Fires when {subject} is {_OP_WORDS[rule.op]} {target}"
    if rule.for_s > 0:
        text += f" for {format_duration(rule.for_s)}"
    text += "."
    if rule.treat_stale_as is not None:
        text += f" A stale or missing series counts as {threshold_text(rule, rule.treat_stale_as)}."
    if rule.resolve_threshold is not None:
        back = "below" if rule.op.upward else "above"
        resolve = threshold_text(rule, rule.resolve_threshold)
        if rule.baseline is not None:
            resolve = f"{rule.resolve_threshold:g} x that average"
        text += f" Once firing it resolves only when the value is {back} {resolve}."
    if rule.keep_firing_for_s > 0:
        text += f" It keeps firing {format_duration(rule.keep_firing_for_s)} after the condition clears."
    return text


@dataclass(frozen=True)
class RuleSet:
    """The rules in force after defaults, overrides and user files; `disabled` are listed, not run."""

    rules: tuple[RuleSpec, ...]
    disabled: tuple[RuleSpec, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> RuleSpec | None:
        return next((r for r in (*self.rules, *self.disabled) if r.name == name), None)

    def names(self) -> list[str]:
        return [r.name for r in (*self.rules, *self.disabled)]
