"""Argo Rollouts' semantics and Kayenta's baseline judgement, as pure functions."""

from __future__ import annotations

import random

import pytest

from clawkeeper.outcomes import Verdict
from clawkeeper.probes.analysis import (
    Judgement,
    Phase,
    Tally,
    compare_error_rate,
    compare_samples,
    early_verdict,
    final_verdict,
    judge,
    suite_verdict,
)
from clawkeeper.probes.conditions import parse_condition
from clawkeeper.probes.spec import Comparison, Direction, Limits

OK = parse_condition("result.v == 1")
BAD = parse_condition("result.v == 0")


@pytest.mark.parametrize(
    ("success", "failure", "value", "phase"),
    [
        (OK, None, 1, Phase.SUCCESSFUL),
        (OK, None, 2, Phase.FAILED),  # only success: not met means failed
        (None, BAD, 0, Phase.FAILED),
        (None, BAD, 2, Phase.SUCCESSFUL),  # only failure: not met means successful
        (OK, BAD, 1, Phase.SUCCESSFUL),
        (OK, BAD, 0, Phase.FAILED),
        (OK, BAD, 2, Phase.INCONCLUSIVE),  # neither condition holds
        (None, None, 5, Phase.SUCCESSFUL),
    ],
)
def test_measurement_phase_follows_argo(success, failure, value, phase) -> None:  # type: ignore[no-untyped-def]
    assert judge({"v": value}, success, failure) is phase


def tally(*phases: Phase) -> Tally:
    out = Tally()
    for phase in phases:
        out = out.add(phase)
    return out


S, F, U, E = Phase.SUCCESSFUL, Phase.FAILED, Phase.INCONCLUSIVE, Phase.ERROR  # U: undecided


@pytest.mark.parametrize(
    ("phases", "limits", "verdict"),
    [
        ((S, S, S), Limits(count=3), Verdict.PASSED),
        ((S, F, S), Limits(count=3), Verdict.FAILED),  # failure_limit 0: one failure fails
        ((S, F, S), Limits(count=3, failure_limit=1), Verdict.PASSED),
        ((F, F), Limits(count=3, failure_limit=1), Verdict.FAILED),
        ((E,), Limits(count=1), Verdict.INCONCLUSIVE),  # could not measure is not failed
        ((E, E, E), Limits(count=3, consecutive_error_limit=4), Verdict.INCONCLUSIVE),
        ((E, S, E), Limits(count=3), Verdict.PASSED),  # errors tolerated once something worked
        ((E, E, E), Limits(count=5, consecutive_error_limit=2), Verdict.INCONCLUSIVE),
        ((U,), Limits(count=1), Verdict.INCONCLUSIVE),
        ((U, S), Limits(count=2, inconclusive_limit=1), Verdict.PASSED),
        ((F,), Limits(count=1, failure_limit=3), Verdict.FAILED),  # nothing worked: never a silent pass
    ],
)
def test_probe_verdict_follows_limits(phases, limits, verdict) -> None:  # type: ignore[no-untyped-def]
    assert final_verdict(tally(*phases), limits) is verdict


def test_limits_stop_measuring_early() -> None:
    assert early_verdict(tally(F), Limits(count=10)) is Verdict.FAILED
    assert early_verdict(tally(F), Limits(count=10, failure_limit=1)) is None
    assert early_verdict(tally(E, E, E), Limits(count=10, consecutive_error_limit=2)) is Verdict.INCONCLUSIVE
    assert early_verdict(tally(E, E, S, E, E), Limits(count=10, consecutive_error_limit=2)) is None


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([(Verdict.PASSED, False), (Verdict.SKIPPED, False)], Verdict.PASSED),
        ([(Verdict.PASSED, False), (Verdict.INCONCLUSIVE, False)], Verdict.INCONCLUSIVE),
        ([(Verdict.INCONCLUSIVE, False), (Verdict.FAILED, False)], Verdict.FAILED),
        ([(Verdict.PASSED, False), (Verdict.FAILED, True)], Verdict.PASSED),  # report-only never decides
        ([(Verdict.SKIPPED, False)], Verdict.INCONCLUSIVE),  # nothing verified is not a pass
    ],
)
def test_suite_verdict(verdicts, expected) -> None:  # type: ignore[no-untyped-def]
    assert suite_verdict(verdicts) is expected


def test_a_clearly_slower_canary_is_worse_than_its_baseline() -> None:
    rng = random.Random(7)
    baseline = [400 + rng.uniform(-40, 40) for _ in range(20)]
    current = [900 + rng.uniform(-40, 40) for _ in range(20)]
    result = compare_samples(current, baseline, Comparison(min_samples=10))
    assert result.judgement is Judgement.WORSE
    assert result.p_value is not None and result.p_value < 0.001
    assert "worse than the baseline" in result.reason


def test_same_distribution_is_not_worse() -> None:
    rng = random.Random(11)
    baseline = [400 + rng.gauss(0, 30) for _ in range(30)]
    current = [400 + rng.gauss(0, 30) for _ in range(30)]
    assert compare_samples(current, baseline, Comparison()).judgement is Judgement.PASS


def test_a_significant_but_small_slowdown_is_within_tolerance() -> None:
    baseline = [100.0 + i * 0.1 for i in range(30)]
    current = [110.0 + i * 0.1 for i in range(30)]  # always slower, but only by 10%
    result = compare_samples(current, baseline, Comparison(tolerance=0.25))
    assert result.p_value is not None and result.p_value < 0.01
    assert result.judgement is Judgement.PASS


def test_direction_decides_which_change_is_bad() -> None:
    baseline = [100.0 + i for i in range(10)]
    faster = [20.0 + i for i in range(10)]
    assert (
        compare_samples(faster, baseline, Comparison(direction=Direction.INCREASE)).judgement
        is Judgement.PASS
    )
    assert (
        compare_samples(faster, baseline, Comparison(direction=Direction.DECREASE)).judgement
        is Judgement.WORSE
    )
    assert (
        compare_samples(faster, baseline, Comparison(direction=Direction.EITHER)).judgement is Judgement.WORSE
    )


def test_too_few_samples_give_no_judgement() -> None:
    result = compare_samples([1.0, 2.0], [1.0] * 20, Comparison(min_samples=5))
    assert result.judgement is Judgement.NODATA
    assert "5 of each are needed" in result.reason


def test_error_rate_comparison() -> None:
    assert compare_error_rate(6, 12, 0, 12, confidence=0.95).judgement is Judgement.WORSE
    assert compare_error_rate(1, 12, 0, 12, confidence=0.95).judgement is Judgement.PASS
    assert compare_error_rate(0, 0, 0, 12, confidence=0.95).judgement is Judgement.NODATA
