"""The rule engine: evaluate every rule against the store, step each alert instance, persist.

    store = AlertStateStore.open(settings.monitor.store.path)
    engine = RuleEngine(load_rules(settings.monitor).rules, store, policy=EnginePolicy.from_settings(...))
    result = engine.evaluate(tsdb, now)      # result.alerts, result.transitions, result.statuses

One alert instance per label set, like Prometheus: its labels are the series' labels plus the
rule's labels, `severity` and `alertname`, and its fingerprint is Prometheus' label fingerprint.
State survives restarts (`store.py`): after an outage shorter than `outage_tolerance` (Prometheus'
`--rules.alert.for-outage-tolerance`, 1 h), a pending instance keeps its `active_since`, so `for`
is not restarted; after a longer one it starts over. A firing instance stays firing across a
restart without a new "firing" transition, so notifications are not re-sent. A rule that fails to
evaluate (a store error) leaves its instances as they were and reports the error in its status.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import overload

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.model import Alert, AlertState, Labels, MetricReader, labels_of
from clawkeeper.monitor.notify.grouping import labels_fingerprint
from clawkeeper.monitor.rules.records import RuleStatus, SeriesOutcome, StoredInstance, Transition
from clawkeeper.monitor.rules.silences import Silence
from clawkeeper.monitor.rules.spec import RuleSpec
from clawkeeper.monitor.rules.store import AlertStateStore
from clawkeeper.monitor.rules.templating import TemplateError, render
from clawkeeper.monitor.rules.transitions import FlapPolicy, InstanceState, step
from clawkeeper.monitor.rules.values import SeriesValue, series_values
from clawkeeper.monitor.settings import RuleSettings

FLAPPING_ANNOTATION = "flapping"


@dataclass(frozen=True)
class EnginePolicy:
    """The engine's knobs that are not per rule (`[monitor.rules]`)."""

    flap: FlapPolicy = field(default_factory=FlapPolicy)
    outage_tolerance: float = 3600.0

    @classmethod
    def from_settings(cls, settings: RuleSettings) -> EnginePolicy:
        return cls(
            flap=FlapPolicy(settings.flap_window, settings.flap_threshold, settings.flap_stable_for),
            outage_tolerance=settings.outage_tolerance,
        )


@dataclass(frozen=True)
class EvaluationResult(Sequence[Alert]):
    """One evaluation: the current alerts (pending, firing, and those that resolved now).

    It is a sequence of those alerts, so it is what the keeper's `Evaluator` protocol returns;
    `transitions` are the changes made by this evaluation, `statuses` each rule's values.
    """

    at: float
    alerts: tuple[Alert, ...]
    transitions: tuple[Transition, ...] = ()
    statuses: tuple[RuleStatus, ...] = ()

    @overload
    def __getitem__(self, index: int) -> Alert: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Alert]: ...

    def __getitem__(self, index: int | slice) -> Alert | Sequence[Alert]:
        return self.alerts[index]

    def __len__(self) -> int:
        return len(self.alerts)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self.alerts)

    def by_state(self, state: AlertState) -> list[Alert]:
        return [a for a in self.alerts if a.state is state]

    @property
    def errors(self) -> list[str]:
        return [f"{s.rule}: {s.error}" for s in self.statuses if s.error]


def alert_labels(rule: RuleSpec, series_labels: Labels) -> Labels:
    """Series labels, then the rule's labels and severity, then alertname (Prometheus' order)."""
    merged = dict(series_labels)
    merged.update(rule.labels)
    merged["severity"] = rule.severity
    merged["alertname"] = rule.name
    return labels_of(merged)


def render_annotations(rule: RuleSpec, series_labels: Labels, value: float | None) -> dict[str, str]:
    label_map = dict(series_labels)
    out = {}
    for key, template in rule.all_annotations().items():
        try:
            out[key] = render(template, label_map, value)
        except TemplateError as exc:  # rules are checked at load; a rule built in code may not be
            out[key] = f"{template} (template error: {exc})"
    return out


@dataclass
class _Live:
    rule: str
    labels: Labels
    series_labels: Labels
    state: InstanceState
    value: float | None
    annotations: tuple[tuple[str, str], ...] = ()


class RuleEngine:
    """Evaluates rules with Prometheus semantics; see the module docstring. Not thread-safe."""

    def __init__(
        self,
        rules: Sequence[RuleSpec],
        store: AlertStateStore,
        clock: Callable[[], float] = time.time,
        *,
        policy: EnginePolicy | None = None,
    ) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("two rules have the same name")
        self.store = store
        self.policy = policy or EnginePolicy()
        self._clock = clock
        loaded = store.load(flap_window=self.policy.flap.window)
        self._live: dict[str, _Live] = {
            i.fingerprint: _Live(i.rule, i.labels, i.series_labels, i.state, i.value, i.annotations)
            for i in loaded.instances
        }
        self._changes: dict[str, deque[float]] = {fp: deque(ts) for fp, ts in loaded.recent_changes.items()}
        self._last_eval = loaded.last_evaluation_at
        store.forget_rules(names)

    @property
    def last_evaluation_at(self) -> float | None:
        return self._last_eval

    def current(self) -> list[StoredInstance]:
        """The active instances as of the last evaluation (or as loaded at start)."""
        return [self._stored(fp, live, self._last_eval or 0.0) for fp, live in sorted(self._live.items())]

    def evaluate(self, reader: MetricReader, now: float | None = None) -> EvaluationResult:
        """Evaluate every rule at `now` (default: the clock) and persist the outcome."""
        now = self._clock() if now is None else now
        transitions: list[Transition] = []
        resolved: list[Alert] = []
        self._forgive_outage(now, transitions)
        statuses = [self._evaluate_rule(rule, reader, now, transitions, resolved) for rule in self.rules]
        self._retire_orphans(now, transitions, resolved)
        silences = self.store.silences.active(now)
        alerts = [self._alert(fp, live, now, silences) for fp, live in self._live.items()]
        alerts += [_silenced(a, silences) for a in resolved]
        alerts.sort(key=lambda a: (a.name, a.labels))
        self._last_eval = now
        self.store.save(
            now, [self._stored(fp, live, now) for fp, live in self._live.items()], transitions, statuses
        )
        return EvaluationResult(now, tuple(alerts), tuple(transitions), tuple(statuses))

    # --- one rule ---------------------------------------------------------------------------------

    def _evaluate_rule(
        self,
        rule: RuleSpec,
        reader: MetricReader,
        now: float,
        transitions: list[Transition],
        resolved: list[Alert],
    ) -> RuleStatus:
        started = time.perf_counter()
        try:
            values = series_values(rule, reader, now)
        except Exception as exc:  # noqa: BLE001 - one rule's store error must not stop the others
            return RuleStatus(
                rule.name, now, time.perf_counter() - started, f"{type(exc).__name__}: {exc}", ()
            )
        outcomes: list[SeriesOutcome] = []
        seen: set[str] = set()
        notes: list[str] = []
        for item in values:
            labels = alert_labels(rule, item.labels)
            fp = labels_fingerprint(labels)
            if fp in seen:
                notes.append(f"two series give the same alert labels {dict(labels)}; the second was ignored")
                continue
            seen.add(fp)
            outcomes.append(self._step(rule, fp, labels, item, now, transitions, resolved))
        for fp, live in list(self._live.items()):
            if live.rule == rule.name and fp not in seen:
                gone = SeriesValue(live.series_labels, None, note="the series is gone")
                self._step(rule, fp, live.labels, gone, now, transitions, resolved)
        error = "; ".join(notes) or None
        return RuleStatus(rule.name, now, time.perf_counter() - started, error, tuple(outcomes))

    def _step(
        self,
        rule: RuleSpec,
        fp: str,
        labels: Labels,
        item: SeriesValue,
        now: float,
        transitions: list[Transition],
        resolved: list[Alert],
    ) -> SeriesOutcome:
        live = self._live.get(fp)
        firing = live is not None and live.state.state is AlertState.FIRING
        condition = item.value is not None and rule.holds(item.value, firing=firing, baseline=item.baseline)
        recent = self._recent_changes(fp, now)
        result = step(
            live.state if live is not None else None,
            condition,
            now,
            for_s=rule.for_s,
            keep_firing_for_s=rule.keep_firing_for_s,
            flap=self.policy.flap,
            recent_changes=recent,
        )
        value = item.value if item.value is not None else (live.value if live is not None else None)
        for change in result.changes:
            transitions.append(
                Transition(now, rule.name, fp, labels, change.from_state, change.to_state, value, change.note)
            )
            if change.notifies:
                self._changes.setdefault(fp, deque()).append(now)
        if result.state is None:
            if live is not None and live.state.state is AlertState.FIRING:
                resolved.append(self._resolved_alert(rule, fp, live, value, now))
            self._live.pop(fp, None)
            state = AlertState.RESOLVED if firing else AlertState.INACTIVE
        else:
            series_labels = item.labels if item.value is not None or live is None else live.series_labels
            annotations = render_annotations(rule, series_labels, value)
            if result.state.flapping:
                annotations[FLAPPING_ANNOTATION] = "true"
            self._live[fp] = _Live(
                rule.name, labels, series_labels, result.state, value, tuple(sorted(annotations.items()))
            )
            state = result.state.state
        threshold = rule.effective_threshold(item.baseline)
        resolve = rule.effective_resolve(item.baseline)
        if firing and resolve is not None:
            threshold = resolve  # hysteresis: what the value must cross to resolve
        note = item.note
        if result.held:
            why = "flapping" if result.state is not None and result.state.flapping else "keep_firing_for"
            note = f"{note}; " if note else ""
            note += f"condition false, held firing ({why})"
        return SeriesOutcome(
            labels=item.labels,
            value=item.value,
            baseline=item.baseline,
            threshold=threshold,
            condition=condition,
            stale=item.stale,
            state=state,
            note=note,
        )

    def _recent_changes(self, fp: str, now: float) -> int:
        changes = self._changes.get(fp)
        if not changes:
            return 0
        while changes and changes[0] <= now - self.policy.flap.window:
            changes.popleft()
        return len(changes)

    # --- restarts and removed rules -----------------------------------------------------------------

    def _forgive_outage(self, now: float, transitions: list[Transition]) -> None:
        """After a long gap since the last evaluation, pending instances start their `for` again."""
        if self._last_eval is None:
            return
        gap = now - self._last_eval
        if gap <= self.policy.outage_tolerance:
            return
        note = (
            f"rules were not evaluated for {format_duration(gap)}, longer than the outage tolerance "
            f"{format_duration(self.policy.outage_tolerance)}: `for` starts again"
        )
        for fp, live in list(self._live.items()):
            if live.state.state is AlertState.PENDING:
                transitions.append(
                    Transition(
                        now,
                        live.rule,
                        fp,
                        live.labels,
                        AlertState.PENDING,
                        AlertState.INACTIVE,
                        live.value,
                        note,
                    )
                )
                del self._live[fp]

    def _retire_orphans(self, now: float, transitions: list[Transition], resolved: list[Alert]) -> None:
        """Instances of rules that were removed or disabled: firing ones resolve, pending ones go."""
        names = {r.name for r in self.rules}
        for fp, live in list(self._live.items()):
            if live.rule in names:
                continue
            note = "the rule was removed or disabled"
            if live.state.state is AlertState.FIRING:
                transitions.append(
                    Transition(
                        now,
                        live.rule,
                        fp,
                        live.labels,
                        AlertState.FIRING,
                        AlertState.RESOLVED,
                        live.value,
                        note,
                    )
                )
                resolved.append(
                    Alert(
                        name=live.rule,
                        labels=live.labels,
                        annotations=live.annotations,
                        state=AlertState.RESOLVED,
                        value=live.value,
                        active_since=live.state.active_since,
                        fired_at=live.state.fired_at,
                        resolved_at=now,
                        fingerprint=fp,
                    )
                )
            else:
                transitions.append(
                    Transition(
                        now,
                        live.rule,
                        fp,
                        live.labels,
                        AlertState.PENDING,
                        AlertState.INACTIVE,
                        live.value,
                        note,
                    )
                )
            del self._live[fp]

    # --- building alerts ----------------------------------------------------------------------------

    def _alert(self, fp: str, live: _Live, now: float, silences: Sequence[Silence]) -> Alert:
        alert = Alert(
            name=live.rule,
            labels=live.labels,
            annotations=live.annotations,
            state=live.state.state,
            value=live.value,
            active_since=live.state.active_since,
            fired_at=live.state.fired_at,
            fingerprint=fp,
        )
        return _silenced(alert, silences)

    def _resolved_alert(self, rule: RuleSpec, fp: str, live: _Live, value: float | None, now: float) -> Alert:
        annotations = render_annotations(rule, live.series_labels, value)
        return Alert(
            name=rule.name,
            labels=live.labels,
            annotations=tuple(sorted(annotations.items())),
            state=AlertState.RESOLVED,
            value=value,
            active_since=live.state.active_since,
            fired_at=live.state.fired_at,
            resolved_at=now,
            fingerprint=fp,
        )

    @staticmethod
    def _stored(fp: str, live: _Live, now: float) -> StoredInstance:
        return StoredInstance(
            fp, live.rule, live.labels, live.series_labels, live.state, live.value, live.annotations, now
        )


def _silenced(alert: Alert, silences: Sequence[Silence]) -> Alert:
    silence = next((s for s in silences if s.matches(alert.labels)), None)
    if silence is None:
        return alert
    return replace(alert, silenced_by=silence.id)
