"""The alert state machine as a table: (state, condition, time) -> (state, changes)."""

from __future__ import annotations

import pytest

from clawkeeper.monitor.model import AlertState
from clawkeeper.monitor.rules.transitions import FlapPolicy, InstanceState, step

OFF, P, F, R = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED
NO_FLAP = FlapPolicy(window=3600, threshold=100, stable_for=900)


def run(conditions: list[bool], *, for_s: float, keep_s: float = 0.0, every: float = 60.0) -> list[str]:
    """Feed one condition per evaluation; return the state after each (resolved shown once)."""
    state: InstanceState | None = None
    seen = []
    for i, condition in enumerate(conditions):
        result = step(
            state, condition, i * every, for_s=for_s, keep_firing_for_s=keep_s, flap=NO_FLAP, recent_changes=0
        )
        resolved = any(c.to_state is R for c in result.changes)
        state = result.state
        seen.append("resolved" if resolved else (state.state.value if state else "inactive"))
    return seen


@pytest.mark.parametrize(
    ("conditions", "for_s", "keep_s", "expected"),
    [
        # without `for`, the first true evaluation fires
        ([True, True, False], 0, 0, ["firing", "firing", "resolved"]),
        # `for` 2m at 1m evaluations: pending at 0 and 60, firing at 120 (120 - 0 >= 120)
        ([True, True, True, True], 120, 0, ["pending", "pending", "firing", "firing"]),
        # pending resets when the condition clears; `for` starts again
        ([True, False, True, True, True], 120, 0, ["pending", "inactive", "pending", "pending", "firing"]),
        # keep_firing_for 2m: firing until the condition has been false for 2m
        ([True, False, False, False, False], 0, 120, ["firing", "firing", "firing", "resolved", "inactive"]),
        # a true evaluation during keep_firing_for restarts its clock
        ([True, False, True, False, False, False], 0, 120, ["firing"] * 5 + ["resolved"]),
        ([False, False], 60, 0, ["inactive", "inactive"]),
    ],
)
def test_prometheus_state_machine(
    conditions: list[bool], for_s: float, keep_s: float, expected: list[str]
) -> None:
    assert run(conditions, for_s=for_s, keep_s=keep_s) == expected


def test_firing_keeps_its_start_and_fire_times() -> None:
    pending = step(None, True, 100.0, for_s=60, keep_firing_for_s=0, flap=NO_FLAP, recent_changes=0)
    assert pending.state is not None and pending.state.active_since == 100.0
    fired = step(pending.state, True, 160.0, for_s=60, keep_firing_for_s=0, flap=NO_FLAP, recent_changes=0)
    assert fired.state is not None
    assert (fired.state.state, fired.state.active_since, fired.state.fired_at) == (F, 100.0, 160.0)
    assert [(c.from_state, c.to_state) for c in fired.changes] == [(P, F)]


def test_changes_are_reported_with_their_states() -> None:
    fired = step(None, True, 0.0, for_s=0, keep_firing_for_s=0, flap=NO_FLAP, recent_changes=0)
    assert [(c.from_state, c.to_state) for c in fired.changes] == [(OFF, F)]
    cleared = step(fired.state, False, 10.0, for_s=0, keep_firing_for_s=0, flap=NO_FLAP, recent_changes=1)
    assert cleared.state is None
    assert [(c.from_state, c.to_state) for c in cleared.changes] == [(F, R)]
    dropped = step(
        InstanceState(P, 0.0), False, 10.0, for_s=60, keep_firing_for_s=0, flap=NO_FLAP, recent_changes=0
    )
    assert [(c.from_state, c.to_state) for c in dropped.changes] == [(P, OFF)]


def test_a_resolve_that_would_exceed_the_flap_threshold_is_held_until_stable() -> None:
    flap = FlapPolicy(window=3600, threshold=4, stable_for=600)
    firing = InstanceState(F, 0.0, fired_at=0.0)
    # 4 changes already in the window: resolving would be the 5th
    held = step(firing, False, 100.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=4)
    assert held.state is not None and held.state.state is F and held.state.flapping
    assert held.held and not held.changes
    still = step(held.state, False, 600.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=4)
    assert still.state is not None and still.state.state is F  # 500 s clear, needs 600
    settled = step(still.state, False, 700.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=4)
    assert settled.state is None
    assert [c.to_state for c in settled.changes] == [R]


def test_a_condition_that_returns_while_flapping_restarts_the_stable_clock() -> None:
    flap = FlapPolicy(window=3600, threshold=2, stable_for=600)
    state = InstanceState(F, 0.0, fired_at=0.0, flapping=True)
    a = step(state, False, 100.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=0)
    b = step(a.state, True, 400.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=0)
    c = step(b.state, False, 500.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=0)
    d = step(c.state, False, 1000.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=0)
    assert d.state is not None and d.state.state is F  # clear since 500 only
    e = step(d.state, False, 1100.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=0)
    assert e.state is None and [ch.to_state for ch in e.changes] == [R]


def test_firing_past_the_flap_threshold_is_marked_flapping() -> None:
    flap = FlapPolicy(window=3600, threshold=2, stable_for=600)
    calm = step(None, True, 0.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=1)
    assert calm.state is not None and not calm.state.flapping
    flapping = step(None, True, 0.0, for_s=0, keep_firing_for_s=0, flap=flap, recent_changes=2)
    assert flapping.state is not None and flapping.state.flapping
    assert flapping.changes[0].note == "flapping"
