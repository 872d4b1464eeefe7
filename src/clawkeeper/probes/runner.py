"""Run a suite: measure each probe `count` times, judge, compare with the baseline, report.

The runner owns timing (initial delay, interval), requirement checks, and turning exceptions
into measurement errors; kinds only measure. Progress goes to an observer; nothing is printed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from clawkeeper.errors import ClawkeeperError, ExitCode
from clawkeeper.outcomes import Verdict
from clawkeeper.probes import analysis
from clawkeeper.probes.analysis import ComparisonResult, Judgement, Phase, Tally
from clawkeeper.probes.baseline import numeric_samples
from clawkeeper.probes.conditions import ConditionEvalError, parse_condition
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds import get_kind
from clawkeeper.probes.kinds.base import Measurement, MeasurementError, Probe, Requirement
from clawkeeper.probes.spec import ProbeSpec
from clawkeeper.probes.suites import Suite


@dataclass(frozen=True)
class MeasurementRecord:
    index: int
    phase: Phase
    evidence: str
    problem: str | None
    duration_s: float
    result: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "phase": self.phase.value,
            "evidence": self.evidence,
            "problem": self.problem,
            "duration_s": round(self.duration_s, 3),
            "result": self.result,
        }


@dataclass(frozen=True)
class ProbeReport:
    spec: ProbeSpec
    verdict: Verdict
    reason: str
    measurements: tuple[MeasurementRecord, ...] = ()
    tally: Tally = field(default_factory=Tally)
    comparison: ComparisonResult | None = None
    samples: tuple[float, ...] = ()
    memo: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "description": self.spec.description,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "report_only": self.spec.report_only,
            "tally": self.tally.to_json(),
            "comparison": self.comparison.to_json() if self.comparison else None,
            "samples": list(self.samples),
            "duration_s": round(self.duration_s, 3),
            "measurements": [m.to_json() for m in self.measurements],
            "spec": self.spec.to_json(),
        }


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    target: str
    verdict: Verdict
    probes: tuple[ProbeReport, ...]
    started_at: str
    duration_s: float
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        return {
            Verdict.PASSED: ExitCode.OK,
            Verdict.FAILED: ExitCode.FAILED,
        }.get(self.verdict, ExitCode.INCONCLUSIVE)

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for probe in self.probes:
            out[probe.verdict.value] += 1
        return out

    def probe(self, name: str) -> ProbeReport:
        for report in self.probes:
            if report.name == name:
                return report
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "target": self.target,
            "verdict": self.verdict.value,
            "counts": self.counts(),
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "notes": list(self.notes),
            "probes": [p.to_json() for p in self.probes],
        }


class Progress(Protocol):
    def probe_started(self, spec: ProbeSpec, index: int, total: int) -> None: ...

    def measured(self, spec: ProbeSpec, record: MeasurementRecord) -> None: ...

    def probe_finished(self, report: ProbeReport) -> None: ...


class NullProgress:
    def probe_started(self, spec: ProbeSpec, index: int, total: int) -> None:
        return None

    def measured(self, spec: ProbeSpec, record: MeasurementRecord) -> None:
        return None

    def probe_finished(self, report: ProbeReport) -> None:
        return None


def build_probe(spec: ProbeSpec) -> Probe:
    info = get_kind(spec.kind)
    if info is None:  # suites are validated on load; this guards specs built in code
        raise ValueError(f"unknown probe kind {spec.kind!r}")
    return info.create(info.params.model_validate(dict(spec.params)))


def _missing_requirement(probe: Probe, env: ProbeEnv) -> tuple[Verdict, str] | None:
    needs = probe.requires
    if Requirement.CLI in needs and env.target is None:
        return Verdict.SKIPPED, "needs the OpenClaw CLI; this target has none"
    if Requirement.STATE_DIR in needs and (env.target is None or env.target.state_dir is None):
        return Verdict.SKIPPED, "needs the agent's state directory; it is not known for this target"
    if Requirement.GATEWAY in needs and env.http_base is None:
        return Verdict.SKIPPED, "needs the gateway's HTTP address; it is not known for this target"
    if Requirement.MODEL in needs and env.agent is None:
        return Verdict.INCONCLUSIVE, f"not run: {env.agent_unavailable}"
    return None


def _measure_once(probe: Probe, spec: ProbeSpec, env: ProbeEnv) -> Measurement:
    if Requirement.MODEL in probe.requires and env.http_base is not None:
        state = env.wait_ready()
        if state.status is None:
            # Nothing listens: the turn cannot work, and the CLI would only wait to say so.
            return Measurement(
                result={"ok": False, "gateway": "unreachable"},
                evidence=f"gateway unreachable ({state.error})",
                problem=f"the gateway is not reachable at {env.http_base} ({state.error})",
            )
    return probe.measure(env, spec.timeout_s)


def run_probe(spec: ProbeSpec, env: ProbeEnv, progress: Progress | None = None) -> ProbeReport:
    observer = progress or NullProgress()
    started = time.monotonic()
    probe = build_probe(spec)
    missing = _missing_requirement(probe, env)
    if missing is not None:
        return ProbeReport(spec, missing[0], missing[1], duration_s=time.monotonic() - started)
    info = get_kind(spec.kind)
    default = info.default_success if info is not None else None
    success = spec.success or (parse_condition(default) if default and spec.failure is None else None)
    tally = Tally()
    records: list[MeasurementRecord] = []
    memo: dict[str, Any] = {}
    env.current_probe = spec.name
    try:
        for index in range(spec.limits.count):
            delay = spec.limits.initial_delay_s if index == 0 else spec.limits.interval_s
            if delay > 0:
                env.sleep(delay)
            t0 = time.monotonic()
            try:
                measurement = _measure_once(probe, spec, env)
                if measurement.skip_reason is not None:
                    return ProbeReport(
                        spec, Verdict.SKIPPED, measurement.skip_reason, duration_s=time.monotonic() - started
                    )
                phase = analysis.judge(measurement.result, success, spec.failure)
                record = MeasurementRecord(
                    index,
                    phase,
                    measurement.evidence,
                    measurement.problem,
                    time.monotonic() - t0,
                    measurement.result,
                )
                memo.update(measurement.memo)
            except (MeasurementError, ConditionEvalError) as exc:
                reason = exc.reason if isinstance(exc, MeasurementError) else str(exc)
                record = MeasurementRecord(
                    index, Phase.ERROR, "could not measure", reason, time.monotonic() - t0
                )
            except ClawkeeperError as exc:
                record = MeasurementRecord(
                    index, Phase.ERROR, "could not measure", exc.one_line(), time.monotonic() - t0
                )
            records.append(record)
            tally = tally.add(record.phase)
            observer.measured(spec, record)
            if analysis.early_verdict(tally, spec.limits) is not None:
                break
    finally:
        env.current_probe = ""
    verdict = analysis.final_verdict(tally, spec.limits)
    samples: tuple[float, ...] = ()
    comparison: ComparisonResult | None = None
    if spec.compare is not None:
        samples = tuple(
            numeric_samples(
                [r.result.get(spec.compare.metric) for r in records if r.phase is Phase.SUCCESSFUL]
            )
        )
        memo["attempts"] = {"failed": tally.failed + tally.errors, "total": tally.taken}
        if verdict is Verdict.PASSED:
            comparison = _compare(spec, env, samples, tally)
            if comparison is not None and comparison.judgement is Judgement.WORSE:
                verdict = Verdict.FAILED
    reason = _reason(verdict, records, tally, spec, comparison)
    return ProbeReport(
        spec, verdict, reason, tuple(records), tally, comparison, samples, memo, time.monotonic() - started
    )


def _compare(
    spec: ProbeSpec, env: ProbeEnv, samples: Sequence[float], tally: Tally
) -> ComparisonResult | None:
    assert spec.compare is not None  # noqa: S101 - checked by the caller
    baseline = env.baselines.get(spec.name)
    if baseline is None:
        return ComparisonResult(
            Judgement.NODATA,
            "no baseline recorded yet; this run can become one",
            spec.compare.metric,
            current_n=len(samples),
        )
    result = analysis.compare_samples(samples, baseline.samples, spec.compare)
    if result.judgement is Judgement.WORSE:
        return result
    attempts = baseline.memo.get("attempts")
    if spec.limits.count > 1 and isinstance(attempts, dict):
        rate = analysis.compare_error_rate(
            tally.failed + tally.errors,
            tally.taken,
            int(attempts.get("failed", 0)),
            int(attempts.get("total", 0)),
            confidence=spec.compare.confidence,
        )
        if rate.judgement is Judgement.WORSE:
            return rate
    return result


def _reason(
    verdict: Verdict,
    records: Sequence[MeasurementRecord],
    tally: Tally,
    spec: ProbeSpec,
    comparison: ComparisonResult | None,
) -> str:
    def last(phase: Phase) -> MeasurementRecord | None:
        return next((r for r in reversed(records) if r.phase is phase), None)

    counted = f" ({tally.failed} of {tally.taken} measurements failed)" if tally.taken > 1 else ""
    if verdict is Verdict.FAILED:
        if comparison is not None and comparison.judgement is Judgement.WORSE:
            return comparison.reason
        failed = last(Phase.FAILED)
        if failed is None:
            return "failed"
        condition = spec.success.text if spec.success else (spec.failure.text if spec.failure else "")
        detail = failed.problem or f"condition `{condition}` did not hold: {failed.evidence}"
        return detail + counted
    if verdict is Verdict.INCONCLUSIVE:
        errored = last(Phase.ERROR)
        if errored is not None and tally.consecutive_errors > 0:
            return f"could not measure: {errored.problem}"
        undecided = last(Phase.INCONCLUSIVE)
        if undecided is not None:
            return f"neither the success nor the failure condition held: {undecided.evidence}"
        return f"could not measure: {errored.problem}" if errored else "no measurement was taken"
    passed = last(Phase.SUCCESSFUL)
    text = passed.evidence if passed else "passed"
    if tally.errors or tally.failed:
        text += f" ({tally.successful} of {tally.taken} measurements succeeded)"
    if comparison is not None:
        text += f"; {comparison.reason}"
    return text


def run_suite(
    suite: Suite,
    env: ProbeEnv,
    *,
    target_label: str,
    progress: Progress | None = None,
    only: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> SuiteReport:
    """Run the suite's probes in order (or only those named in `only`)."""
    observer = progress or NullProgress()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    specs = [p for p in suite.probes if not only or p.name in only]
    reports: list[ProbeReport] = []
    for index, spec in enumerate(specs):
        observer.probe_started(spec, index, len(specs))
        report = run_probe(spec, env, observer)
        observer.probe_finished(report)
        reports.append(report)
    verdict = analysis.suite_verdict((r.verdict, r.spec.report_only) for r in reports)
    return SuiteReport(
        suite=suite.name,
        target=target_label,
        verdict=verdict,
        probes=tuple(reports),
        started_at=started_at,
        duration_s=time.monotonic() - started,
        notes=tuple(notes),
    )
