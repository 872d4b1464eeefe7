"""Outcomes are types, not flags: every check in clawkeeper ends as one of these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str = ""

    @classmethod
    def passed(cls, reason: str = "") -> Outcome:
        return cls(Verdict.PASSED, reason)

    @classmethod
    def failed(cls, reason: str) -> Outcome:
        return cls(Verdict.FAILED, reason)

    @classmethod
    def skipped(cls, reason: str) -> Outcome:
        return cls(Verdict.SKIPPED, reason)

    @classmethod
    def inconclusive(cls, reason: str) -> Outcome:
        return cls(Verdict.INCONCLUSIVE, reason)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.PASSED

    def to_json(self) -> dict[str, str]:
        return {"verdict": self.verdict.value, "reason": self.reason}
