"""Writing a suite report into the ledger: one step per probe, the future baselines.

Each probe becomes a step `probe:<name>` whose detail holds its verdict, reason, the samples of
its compared metric and its kind's memo; `LedgerBaselines` reads exactly these fields back.
"""

from __future__ import annotations

from clawkeeper.ledger import Ledger
from clawkeeper.outcomes import Verdict
from clawkeeper.probes.baseline import STEP_PREFIX
from clawkeeper.probes.runner import SuiteReport

STEP_OUTCOME = {
    Verdict.PASSED: "ok",
    Verdict.FAILED: "failed",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.SKIPPED: "skipped",
}


def record_report(ledger: Ledger, run_id: int, report: SuiteReport) -> None:
    for probe in report.probes:
        step_id = ledger.start_step(
            run_id, STEP_PREFIX + probe.name, {"kind": probe.spec.kind, "suite": report.suite}
        )
        ledger.finish_step(
            step_id,
            outcome=STEP_OUTCOME[probe.verdict],
            detail={
                "verdict": probe.verdict.value,
                "reason": probe.reason,
                "samples": list(probe.samples),
                "memo": probe.memo,
                "tally": probe.tally.to_json(),
                "comparison": probe.comparison.to_json() if probe.comparison else None,
                "evidence": [m.evidence for m in probe.measurements][-5:],
            },
        )
