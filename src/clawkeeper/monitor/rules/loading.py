"""The rules in force: built-in ones, then the user's rule files, with overrides applied."""

from __future__ import annotations

from dataclasses import replace

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.rules.defaults import default_rules
from clawkeeper.monitor.rules.files import RuleFileError, load_rule_file
from clawkeeper.monitor.rules.spec import RuleSet, RuleSpec, RuleSpecError
from clawkeeper.monitor.settings import MonitorSettings, RuleOverride


def load_rules(monitor: MonitorSettings) -> RuleSet:
    """Built-in rules (overrides applied), then every rule file in order. Raises ConfigError."""
    try:
        rules = default_rules(monitor)
    except RuleSpecError as exc:
        raise ConfigError(
            f"monitor.rules.overrides.{exc.name}: {exc.problem}", hint="adjust the override"
        ) from None
    builtin = {r.name for r in rules}
    origin: dict[str, str] = {r.name: "built-in" for r in rules}
    for path in monitor.rules.rule_files:
        for rule in load_rule_file(path):
            if rule.name in builtin:
                raise RuleFileError(
                    f"{rule.source}: rule '{rule.name}': a built-in rule has this name",
                    hint=f"change it with [monitor.rules.overrides.{rule.name}], or give yours another name",
                )
            if rule.name in origin:
                raise RuleFileError(
                    f"{rule.source}: rule '{rule.name}': also defined at {origin[rule.name]}",
                    hint="alert names must be unique across rule files",
                )
            origin[rule.name] = rule.source
            override = monitor.rules.overrides.get(rule.name)
            rules.append(rule if override is None else _overridden(rule, override))
    unknown = sorted(set(monitor.rules.overrides) - set(origin))
    if unknown:
        raise ConfigError(
            f"monitor.rules.overrides.{unknown[0]}: there is no rule named {unknown[0]!r}",
            hint=f"the rules are: {', '.join(sorted(origin))}",
        )
    return RuleSet(
        rules=tuple(r for r in rules if r.enabled),
        disabled=tuple(r for r in rules if not r.enabled),
    )


def _overridden(rule: RuleSpec, override: RuleOverride) -> RuleSpec:
    changes: dict[str, object] = {"enabled": override.enabled}
    if override.threshold is not None:
        changes["threshold"] = override.threshold
    if override.resolve_threshold is not None:
        changes["resolve_threshold"] = override.resolve_threshold
    if override.for_ is not None:
        changes["for_s"] = override.for_
    if override.keep_firing_for is not None:
        changes["keep_firing_for_s"] = override.keep_firing_for
    if override.severity is not None:
        changes["severity"] = override.severity
    try:
        return replace(rule, **changes)  # type: ignore[arg-type]
    except RuleSpecError as exc:
        raise ConfigError(
            f"monitor.rules.overrides.{rule.name}: {exc.problem}", hint="adjust the override"
        ) from None
