"""User rule files (`monitor.rules.rule_files`): TOML, one `[[rule]]` table per alert.

    [[rule]]
    name = "GatewaySlowProbe"              # the alert name
    metric = "gateway_probe_latency_seconds"
    matchers = ['probe="readyz"']          # label=value, label!=value, label=~regex, label!~regex
    reduce = "avg"                         # last (default), avg, min, max, rate, rate_per_minute,
    window = "5m"                          #   increase, absent; window: lookback for `last`
    op = ">"                               # >, >=, <, <=, ==, !=
    threshold = 2
    resolve_threshold = 1                  # optional hysteresis
    for = "5m"
    keep_firing_for = "1m"
    severity = "warning"                   # info, warning, critical
    labels = { team = "ops" }
    summary = "readyz takes {{ $value | humanizeDuration }}"
    description = "..."
    runbook = "..."
    annotations = { dashboard = "https://..." }
    treat_stale_as = 0                     # optional: value of a stale or missing series
    group_by = ["probe"]                   # optional, with aggregate = sum|avg|min|max|count
    enabled = true

    [rule.baseline]                        # optional: threshold is then a ratio of the baseline
    window = "1d"
    min = 5
    offset = "1h"                          # default: the rule's window

Every mistake is reported as `file:line: rule 'Name': reason`, before the keeper starts.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from clawkeeper.errors import ConfigError, UsageError
from clawkeeper.monitor.durations import parse_duration
from clawkeeper.monitor.model import Matcher
from clawkeeper.monitor.rules.spec import (
    SEVERITIES,
    Aggregate,
    Baseline,
    Op,
    Reduction,
    RuleSpec,
    RuleSpecError,
)
from clawkeeper.monitor.rules.templating import TemplateError, check_template
from clawkeeper.monitor.tsdb.matchers import parse_matcher

RULE_KEYS = frozenset(
    {
        "name",
        "metric",
        "matchers",
        "reduce",
        "window",
        "op",
        "threshold",
        "resolve_threshold",
        "for",
        "keep_firing_for",
        "severity",
        "labels",
        "summary",
        "description",
        "runbook",
        "annotations",
        "treat_stale_as",
        "group_by",
        "aggregate",
        "enabled",
        "baseline",
    }
)
BASELINE_KEYS = frozenset({"window", "min", "offset"})
HINT = "fix the rule; docs/monitoring.md (Alert rules) lists the fields and their values"


class RuleFileError(ConfigError):
    """A rule file is invalid: the message starts with `file:line`."""


class _Lines:
    """Finds the line of a `[[rule]]` table or one of its keys (tomllib reports none)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*rule\s*\]\]", line)]

    def rule(self, index: int) -> int | None:
        return self.headers[index] + 1 if index < len(self.headers) else None

    def key(self, index: int, key: str) -> int | None:
        if index >= len(self.headers):
            return None
        start = self.headers[index]
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        pattern = re.compile(rf"^\s*(\[\s*rule\.)?{re.escape(key)}\b\s*(=|\])")
        for i in range(start + 1, end):
            if pattern.match(self.lines[i]):
                return i + 1
        return start + 1


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line is not None else str(path)


class _RuleBuilder:
    def __init__(self, path: Path, lines: _Lines, index: int, raw: Any) -> None:
        self.path = path
        self.lines = lines
        self.index = index
        self.raw = raw
        named = isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]
        self.name = str(raw["name"]) if named else f"#{index + 1}"

    def error(self, reason: str, key: str | None = None) -> RuleFileError:
        line = self.lines.key(self.index, key) if key else self.lines.rule(self.index)
        return RuleFileError(f"{_where(self.path, line)}: rule '{self.name}': {reason}", hint=HINT)

    def build(self) -> RuleSpec:
        raw = self.raw
        if not isinstance(raw, dict):
            raise self.error("each [[rule]] must be a table")
        unknown = sorted(set(raw) - RULE_KEYS)
        if unknown:
            raise self.error(
                f"unknown key '{unknown[0]}' (known: {', '.join(sorted(RULE_KEYS))})", unknown[0]
            )
        for required in ("name", "metric"):
            if not isinstance(raw.get(required), str) or not raw[required]:
                raise self.error(f"`{required}` is required", required)
        reduction = self._choice("reduce", Reduction, Reduction.LAST)
        op = self._choice("op", Op, Op.GT if reduction is not Reduction.ABSENT else Op.EQ)
        if "threshold" not in raw and reduction is not Reduction.ABSENT:
            raise self.error("`threshold` is required", "threshold")
        threshold = self._number("threshold", 1.0)
        severity = raw.get("severity", "warning")
        if severity not in SEVERITIES:
            raise self.error(f"`severity` must be one of {', '.join(SEVERITIES)}", "severity")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.error("`enabled` must be true or false", "enabled")
        texts = {key: self._text(key) for key in ("summary", "description", "runbook")}
        group_by = raw.get("group_by")
        if group_by is not None and (
            not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by)
        ):
            raise self.error('`group_by` must be a list of label names, e.g. ["job"]', "group_by")
        try:
            spec = RuleSpec(
                name=raw["name"],
                metric=raw["metric"],
                matchers=self._matchers(),
                reduction=reduction,
                window=self._duration("window", 300.0),
                op=op,
                threshold=threshold,
                resolve_threshold=self._optional_number("resolve_threshold"),
                baseline=self._baseline(),
                for_s=self._duration("for", 0.0),
                keep_firing_for_s=self._duration("keep_firing_for", 0.0),
                severity=severity,
                labels=self._table("labels"),
                summary=texts["summary"],
                description=texts["description"],
                runbook=texts["runbook"],
                annotations=self._table("annotations", templates=True),
                treat_stale_as=self._optional_number("treat_stale_as"),
                group_by=tuple(group_by) if group_by is not None else None,
                aggregate=self._choice("aggregate", Aggregate, Aggregate.SUM),
                enabled=enabled,
                source=f"{self.path}:{self.lines.rule(self.index)}",
            )
        except RuleSpecError as exc:
            raise self.error(exc.problem, exc.key) from None
        return spec

    # --- values ------------------------------------------------------------------------------------

    def _choice(self, key: str, enum: Any, default: Any) -> Any:
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError:
            known = ", ".join(e.value for e in enum)
            raise self.error(f"`{key}` must be one of {known}, not {value!r}", key) from None

    def _number(self, key: str, default: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.error(f"`{key}` must be a number", key)
        return float(value)

    def _optional_number(self, key: str) -> float | None:
        return None if key not in self.raw else self._number(key, 0.0)

    def _duration(self, key: str, default: float, table: dict[str, Any] | None = None) -> float:
        source = self.raw if table is None else table
        try:
            return parse_duration(source.get(key, default))
        except ValueError as exc:
            raise self.error(f"`{key}`: {exc}", key) from None

    def _text(self, key: str) -> str:
        value = self.raw.get(key, "")
        if not isinstance(value, str):
            raise self.error(f"`{key}` must be a string", key)
        self._template(key, value)
        return value

    def _template(self, key: str, value: str) -> None:
        try:
            check_template(value)
        except TemplateError as exc:
            raise self.error(f"`{key}`: {exc}", key) from None

    def _table(self, key: str, *, templates: bool = False) -> tuple[tuple[str, str], ...]:
        value = self.raw.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.error(f'`{key}` must be a table of strings, e.g. {key} = {{ team = "ops" }}', key)
        if templates:
            for name, text in value.items():
                self._template(f"{key}.{name}", text)
        return tuple(sorted(value.items()))

    def _matchers(self) -> tuple[Matcher, ...]:
        value = self.raw.get("matchers", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error("`matchers` must be a list such as ['probe=\"readyz\"']", "matchers")
        out = []
        for text in value:
            try:
                out.append(parse_matcher(text))
            except UsageError as exc:
                raise self.error(f"`matchers`: {exc.message}", "matchers") from None
        return tuple(out)

    def _baseline(self) -> Baseline | None:
        value = self.raw.get("baseline")
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error("`baseline` must be a table ([rule.baseline])", "baseline")
        unknown = sorted(set(value) - BASELINE_KEYS)
        if unknown:
            raise self.error(
                f"unknown key '{unknown[0]}' in baseline (known: {', '.join(sorted(BASELINE_KEYS))})",
                "baseline",
            )
        if "window" not in value:
            raise self.error('baseline.window is required, e.g. window = "1d"', "baseline")
        minimum = value.get("min", 0.0)
        if isinstance(minimum, bool) or not isinstance(minimum, int | float):
            raise self.error("baseline.min must be a number", "baseline")
        offset = None if "offset" not in value else self._duration("offset", 0.0, value)
        return Baseline(self._duration("window", 0.0, value), float(minimum), offset)


def parse_rule_text(text: str, *, path: Path) -> list[RuleSpec]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise RuleFileError(
            f"{_where(path, int(line.group(1)) if line else None)}: not valid TOML: {exc}",
            hint="fix the syntax at the line shown",
        ) from None
    lines = _Lines(text)
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        found = next(
            (
                i + 1
                for i, t in enumerate(lines.lines)
                if re.match(rf"^\s*\[*\s*{re.escape(unknown[0])}\b", t)
            ),
            None,
        )
        raise RuleFileError(
            f"{_where(path, found)}: unknown table or key '{unknown[0]}' (rules are [[rule]] tables)",
            hint=HINT,
        )
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleFileError(f"{path}: the file declares no [[rule]] tables", hint=HINT)
    rules: list[RuleSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        builder = _RuleBuilder(path, lines, index, raw)
        spec = builder.build()
        if spec.name in seen:
            raise builder.error("another rule in this file has the same name", "name")
        seen.add(spec.name)
        rules.append(spec)
    return rules


def load_rule_file(path: Path) -> list[RuleSpec]:
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleFileError(
            f"rule file {path} does not exist", hint="create it or remove it from monitor.rules.rule_files"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(f"rule file {path} cannot be read: {exc}", hint="check its permissions") from None
    return parse_rule_text(text, path=path)
