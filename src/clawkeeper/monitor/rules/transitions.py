"""The alert state machine of one alert instance: a pure function from (state, condition, now).

Prometheus semantics (rules/alerting.go):
- inactive + condition true: pending, `active_since = now`; with `for` = 0 it fires at once
  (recorded as one inactive → firing change).
- pending: fires at the first evaluation with `now - active_since >= for`; drops back to inactive
  (pending → inactive) as soon as the condition is false, so `for` starts again next time.
- firing + condition false: with `keep_firing_for`, stays firing until the condition has been
  false for that long (`cleared_since` marks the first false evaluation; a true evaluation resets
  it); then firing → resolved. A resolved alert is reported once and forgotten.

Flap suppression (Prometheus has none; this is clawkeeper's own, documented rule): starting to
fire and resolving are the *changes* a user is notified of. When a change would make the
instance's count of changes within `flap_window` exceed `flap_threshold`, the instance is marked
flapping. A flapping instance fires as usual, but does not resolve until its condition has been
false without interruption for `stable_for` (or `keep_firing_for`, if longer); then it resolves
once and the mark is cleared. So a condition that toggles every few minutes yields at most
`flap_threshold` notifications, then one "firing (flapping)" and one "resolved" when it settles.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from clawkeeper.monitor.model import AlertState

EPSILON_S = 1e-6  # float noise between timestamps computed in different ways


@dataclass(frozen=True)
class InstanceState:
    """What is remembered of an active (pending or firing) instance between evaluations."""

    state: AlertState
    active_since: float
    fired_at: float | None = None
    cleared_since: float | None = None  # first evaluation with the condition false while firing
    flapping: bool = False


@dataclass(frozen=True)
class FlapPolicy:
    window: float = 3600.0
    threshold: int = 4
    stable_for: float = 900.0


@dataclass(frozen=True)
class Change:
    from_state: AlertState
    to_state: AlertState
    note: str = ""

    @property
    def notifies(self) -> bool:
        """Starting to fire and resolving count as changes for flap detection."""
        return self.to_state in (AlertState.FIRING, AlertState.RESOLVED)


@dataclass(frozen=True)
class Step:
    state: InstanceState | None  # None: inactive (or just resolved): nothing to remember
    changes: tuple[Change, ...] = ()
    held: bool = False  # kept firing although the condition is false (keep_firing_for or flapping)


def elapsed(since: float, now: float, duration: float) -> bool:
    return now - since >= duration - EPSILON_S


def step(
    prev: InstanceState | None,
    condition: bool,
    now: float,
    *,
    for_s: float,
    keep_firing_for_s: float,
    flap: FlapPolicy,
    recent_changes: int,
) -> Step:
    """The next state of one instance. `recent_changes`: its notified changes within the flap window."""
    would_flap = recent_changes + 1 > flap.threshold
    if prev is None or prev.state not in (AlertState.PENDING, AlertState.FIRING):
        if not condition:
            return Step(None)
        if for_s <= 0:
            fired = InstanceState(AlertState.FIRING, now, fired_at=now, flapping=would_flap)
            return Step(fired, (Change(AlertState.INACTIVE, AlertState.FIRING, _flap_note(would_flap)),))
        return Step(
            InstanceState(AlertState.PENDING, now), (Change(AlertState.INACTIVE, AlertState.PENDING),)
        )
    if prev.state is AlertState.PENDING:
        if not condition:
            return Step(None, (Change(AlertState.PENDING, AlertState.INACTIVE),))
        if elapsed(prev.active_since, now, for_s):
            fired = replace(prev, state=AlertState.FIRING, fired_at=now, flapping=would_flap)
            return Step(fired, (Change(AlertState.PENDING, AlertState.FIRING, _flap_note(would_flap)),))
        return Step(prev)
    # firing
    if condition:
        return Step(replace(prev, cleared_since=None) if prev.cleared_since is not None else prev)
    cleared = prev.cleared_since if prev.cleared_since is not None else now
    if not elapsed(cleared, now, keep_firing_for_s):
        return Step(replace(prev, cleared_since=cleared), held=True)
    if prev.flapping or would_flap:
        if not elapsed(cleared, now, max(keep_firing_for_s, flap.stable_for)):
            return Step(replace(prev, cleared_since=cleared, flapping=True), held=True)
        note = "stable again after flapping"
        return Step(None, (Change(AlertState.FIRING, AlertState.RESOLVED, note),))
    return Step(None, (Change(AlertState.FIRING, AlertState.RESOLVED),))


def _flap_note(flapping: bool) -> str:
    return "flapping" if flapping else ""
