"""Analysis with Argo Rollouts' semantics, plus Kayenta's "not worse than the baseline".

Pure functions over values; the runner feeds them measurements.

Per measurement (Argo): with both conditions, success → Successful, failure → Failed, neither →
Inconclusive; with only `success`, false → Failed; with only `failure`, false → Successful; a
measurement that could not be taken is an Error.

Per probe: stop early when failed > failure_limit (Failed), inconclusive > inconclusive_limit
(Inconclusive) or consecutive errors > consecutive_error_limit (Inconclusive: "could not
measure" is not "failed"). Otherwise, after `count` measurements, the probe passed — unless no
measurement at all succeeded, which can never pass silently.

Per suite: any Failed probe fails it; else any Inconclusive makes it Inconclusive (a human must
look); else it passed. Report-only probes never change the verdict.

Baseline comparison (Kayenta's judge): a Mann-Whitney U test of the current samples against the
baseline's, in the direction that is bad, and a Hodges-Lehmann shift relative to the baseline's
median; "worse" needs both significance and a shift beyond the tolerance, so a tiny but
consistent slowdown is not an alarm. Error rates use Fisher's exact test.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from clawkeeper.outcomes import Verdict
from clawkeeper.probes.conditions import Condition
from clawkeeper.probes.spec import Comparison, Direction, Limits


class Phase(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


def judge(result: Mapping[str, Any], success: Condition | None, failure: Condition | None) -> Phase:
    """The phase of one measurement. Raises ConditionEvalError when a condition cannot be read."""
    if success is not None and failure is not None:
        if failure.evaluate(result):
            return Phase.FAILED
        return Phase.SUCCESSFUL if success.evaluate(result) else Phase.INCONCLUSIVE
    if success is not None:
        return Phase.SUCCESSFUL if success.evaluate(result) else Phase.FAILED
    if failure is not None:
        return Phase.FAILED if failure.evaluate(result) else Phase.SUCCESSFUL
    return Phase.SUCCESSFUL


@dataclass(frozen=True)
class Tally:
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0

    @property
    def taken(self) -> int:
        return self.successful + self.failed + self.inconclusive + self.errors

    def add(self, phase: Phase) -> Tally:
        if phase is Phase.ERROR:
            return replace(self, errors=self.errors + 1, consecutive_errors=self.consecutive_errors + 1)
        bumped = replace(self, consecutive_errors=0)
        if phase is Phase.SUCCESSFUL:
            return replace(bumped, successful=self.successful + 1)
        if phase is Phase.FAILED:
            return replace(bumped, failed=self.failed + 1)
        return replace(bumped, inconclusive=self.inconclusive + 1)

    def to_json(self) -> dict[str, int]:
        return {
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
        }


def early_verdict(tally: Tally, limits: Limits) -> Verdict | None:
    """The verdict if the limits already decide it, else None (keep measuring)."""
    if tally.failed > limits.failure_limit:
        return Verdict.FAILED
    if tally.inconclusive > limits.inconclusive_limit:
        return Verdict.INCONCLUSIVE
    if tally.consecutive_errors > limits.consecutive_error_limit:
        return Verdict.INCONCLUSIVE
    return None


def final_verdict(tally: Tally, limits: Limits) -> Verdict:
    """The verdict once measuring stopped (all `count` taken, or stopped early)."""
    decided = early_verdict(tally, limits)
    if decided is not None:
        return decided
    if tally.successful == 0:
        # Nothing was shown to work. A definite bad answer fails; errors alone only say "unknown".
        return Verdict.FAILED if tally.failed > 0 else Verdict.INCONCLUSIVE
    return Verdict.PASSED


def suite_verdict(verdicts: Iterable[tuple[Verdict, bool]]) -> Verdict:
    """(verdict, report_only) per probe → the suite's verdict."""
    counted = [v for v, report_only in verdicts if not report_only]
    if any(v is Verdict.FAILED for v in counted):
        return Verdict.FAILED
    if any(v is Verdict.INCONCLUSIVE for v in counted):
        return Verdict.INCONCLUSIVE
    if not any(v is Verdict.PASSED for v in counted):
        return Verdict.INCONCLUSIVE  # everything skipped: nothing was verified
    return Verdict.PASSED


# Baseline comparison --------------------------------------------------------------------------
class Judgement(StrEnum):
    PASS = "pass"  # noqa: S105 - a judgement, not a password: not worse than the baseline
    WORSE = "worse"
    NODATA = "nodata"  # too few samples on one side to judge


@dataclass(frozen=True)
class ComparisonResult:
    judgement: Judgement
    reason: str
    metric: str
    current_median: float | None = None
    baseline_median: float | None = None
    shift: float | None = None  # Hodges-Lehmann estimate of current - baseline
    relative_shift: float | None = None
    p_value: float | None = None
    current_n: int = 0
    baseline_n: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "judgement": self.judgement.value,
            "reason": self.reason,
            "metric": self.metric,
            "current_median": self.current_median,
            "baseline_median": self.baseline_median,
            "shift": self.shift,
            "relative_shift": self.relative_shift,
            "p_value": self.p_value,
            "current_n": self.current_n,
            "baseline_n": self.baseline_n,
        }


def hodges_lehmann(current: Sequence[float], baseline: Sequence[float]) -> float:
    """Median of all pairwise differences: a robust estimate of how far `current` moved."""
    return float(statistics.median(c - b for c in current for b in baseline))


def _clean(samples: Iterable[float]) -> list[float]:
    return [float(s) for s in samples if isinstance(s, int | float) and math.isfinite(s)]


def compare_samples(
    current: Sequence[float], baseline: Sequence[float], spec: Comparison
) -> ComparisonResult:
    cur, base = _clean(current), _clean(baseline)
    metric = spec.metric
    if len(cur) < spec.min_samples or len(base) < spec.min_samples:
        return ComparisonResult(
            Judgement.NODATA,
            f"{metric}: {len(cur)} current and {len(base)} baseline samples; "
            f"{spec.min_samples} of each are needed to compare",
            metric,
            current_n=len(cur),
            baseline_n=len(base),
        )
    alternative = {Direction.INCREASE: "greater", Direction.DECREASE: "less", Direction.EITHER: "two-sided"}
    if len(set(cur) | set(base)) == 1:
        p_value = 1.0  # identical constant samples: no difference to test
    else:
        from scipy import stats  # heavy (~1 s): imported only when a comparison runs

        p_value = float(stats.mannwhitneyu(cur, base, alternative=alternative[spec.direction]).pvalue)
    base_median = float(statistics.median(base))
    cur_median = float(statistics.median(cur))
    shift = hodges_lehmann(cur, base)
    relative = shift / abs(base_median) if base_median else (math.inf if shift else 0.0)
    bad_direction = (
        relative > spec.tolerance
        if spec.direction is Direction.INCREASE
        else -relative > spec.tolerance
        if spec.direction is Direction.DECREASE
        else abs(relative) > spec.tolerance
    )
    significant = p_value < 1.0 - spec.confidence
    described = (
        f"{metric} median {cur_median:g} vs baseline {base_median:g} "
        f"({relative:+.0%}, Mann-Whitney p={p_value:.3g}, n={len(cur)}/{len(base)})"
    )
    judgement = Judgement.WORSE if significant and bad_direction else Judgement.PASS
    verdict_text = (
        "worse than the baseline" if judgement is Judgement.WORSE else "not worse than the baseline"
    )
    return ComparisonResult(
        judgement,
        f"{described}: {verdict_text}",
        metric,
        current_median=cur_median,
        baseline_median=base_median,
        shift=shift,
        relative_shift=relative,
        p_value=p_value,
        current_n=len(cur),
        baseline_n=len(base),
    )


def compare_error_rate(
    current_failed: int, current_total: int, baseline_failed: int, baseline_total: int, *, confidence: float
) -> ComparisonResult:
    """Is the current failure rate higher than the baseline's? (one-sided Fisher exact test)"""
    if current_total == 0 or baseline_total == 0:
        return ComparisonResult(Judgement.NODATA, "error rate: no attempts to compare", "error_rate")
    table = [
        [current_failed, current_total - current_failed],
        [baseline_failed, baseline_total - baseline_failed],
    ]
    from scipy import stats

    p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
    cur_rate = current_failed / current_total
    base_rate = baseline_failed / baseline_total
    worse = p_value < 1.0 - confidence and cur_rate > base_rate
    described = (
        f"error rate {cur_rate:.0%} ({current_failed}/{current_total}) vs baseline {base_rate:.0%} "
        f"({baseline_failed}/{baseline_total}), Fisher p={p_value:.3g}"
    )
    return ComparisonResult(
        Judgement.WORSE if worse else Judgement.PASS,
        f"{described}: {'worse than' if worse else 'not worse than'} the baseline",
        "error_rate",
        current_median=cur_rate,
        baseline_median=base_rate,
        p_value=p_value,
        current_n=current_total,
        baseline_n=baseline_total,
    )
