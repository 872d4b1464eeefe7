"""Alert rules with Prometheus semantics, evaluated by the keeper against its own store.

- `spec.py`: what a rule says (`RuleSpec`), `describe()` in words;
- `defaults.py`: the built-in rules; `files.py`: user rule files; `loading.py`: `load_rules()`;
- `values.py`: one value per label set from the store; `transitions.py`: the state machine;
- `engine.py`: `RuleEngine.evaluate()`; `store.py`/`silences.py`: state in the monitor database;
- `templating.py`: `{{ $labels.x }}` / `{{ $value }}`; `promql.py`: the Prometheus rule file;
- `explain.py`: why an alert is (not) firing, for `clawkeeper alerts explain`.

The keeper builds its evaluator with `build_engine(settings.monitor)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from clawkeeper.monitor.rules.engine import EnginePolicy, EvaluationResult, RuleEngine, alert_labels
from clawkeeper.monitor.rules.loading import load_rules
from clawkeeper.monitor.rules.records import RuleStatus, SeriesOutcome, StoredInstance, Transition
from clawkeeper.monitor.rules.silences import Silence, SilenceStore
from clawkeeper.monitor.rules.spec import (
    Aggregate,
    Baseline,
    Op,
    Reduction,
    RuleSet,
    RuleSpec,
    RuleSpecError,
    describe,
)
from clawkeeper.monitor.rules.store import AlertStateStore
from clawkeeper.monitor.settings import MonitorSettings


def build_engine(monitor: MonitorSettings, *, clock: Callable[[], float] = time.time) -> RuleEngine:
    """The keeper's rule engine: rules in force, state in `monitor.store.path`, policy from settings.

    Raises ConfigError for a bad rule file or override, LedgerError for a database it cannot use.
    """
    rules = load_rules(monitor)
    store = AlertStateStore.open(monitor.store.path)
    return RuleEngine(rules.rules, store, clock, policy=EnginePolicy.from_settings(monitor.rules))


__all__ = [
    "Aggregate",
    "AlertStateStore",
    "Baseline",
    "EnginePolicy",
    "EvaluationResult",
    "Op",
    "Reduction",
    "RuleEngine",
    "RuleSet",
    "RuleSpec",
    "RuleSpecError",
    "RuleStatus",
    "SeriesOutcome",
    "Silence",
    "SilenceStore",
    "StoredInstance",
    "Transition",
    "alert_labels",
    "build_engine",
    "describe",
    "load_rules",
]
