"""What a suite declares about one probe: its kind, its parameters and its analysis settings.

The analysis fields follow Argo Rollouts' AnalysisTemplate metrics: `count` measurements taken
`interval` apart after `initial_delay`; each one is judged by `success` / `failure` conditions;
`failure_limit`, `inconclusive_limit` and `consecutive_error_limit` say how many bad ones end the
probe early. `compare` adds Kayenta's "not worse than the baseline" judgement for a numeric field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from clawkeeper.probes.conditions import Condition


class Direction(StrEnum):
    """Which change of a compared metric is bad."""

    INCREASE = "increase"  # latency, error rate
    DECREASE = "decrease"  # throughput, hit rate
    EITHER = "either"


@dataclass(frozen=True)
class Limits:
    count: int = 1
    interval_s: float = 0.0
    initial_delay_s: float = 0.0
    failure_limit: int = 0  # failed measurements tolerated before the probe fails
    inconclusive_limit: int = 0
    consecutive_error_limit: int = 4  # Argo's default: measurements that could not be taken in a row

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "interval_s": self.interval_s,
            "initial_delay_s": self.initial_delay_s,
            "failure_limit": self.failure_limit,
            "inconclusive_limit": self.inconclusive_limit,
            "consecutive_error_limit": self.consecutive_error_limit,
        }


@dataclass(frozen=True)
class Comparison:
    """Compare a numeric `result` field with the baseline's samples (Mann-Whitney U).

    `tolerance` is the relative shift of the median that is still acceptable (0.25: up to 25%
    worse); `confidence` is how sure the test must be before calling it worse. Fewer than
    `min_samples` on either side means no judgement (reported, not failed).
    """

    metric: str = "latency_ms"
    direction: Direction = Direction.INCREASE
    confidence: float = 0.95
    tolerance: float = 0.25
    min_samples: int = 5

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction.value,
            "confidence": self.confidence,
            "tolerance": self.tolerance,
            "min_samples": self.min_samples,
        }


@dataclass(frozen=True)
class SourceRef:
    """Where a probe was declared, for messages: `file:line`."""

    path: Path | None
    line: int | None = None

    def __str__(self) -> str:
        name = str(self.path) if self.path is not None else "<built-in>"
        return f"{name}:{self.line}" if self.line is not None else name


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    success: Condition | None = None
    failure: Condition | None = None
    limits: Limits = field(default_factory=Limits)
    timeout_s: float = 30.0
    compare: Comparison | None = None
    report_only: bool = False  # Argo's dryRun: measured and shown, never changes the verdict
    source: SourceRef = field(default_factory=lambda: SourceRef(None))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "params": dict(self.params),
            "description": self.description,
            "success": self.success.text if self.success else None,
            "failure": self.failure.text if self.failure else None,
            "limits": self.limits.to_json(),
            "timeout_s": self.timeout_s,
            "compare": self.compare.to_json() if self.compare else None,
            "report_only": self.report_only,
            "source": str(self.source),
        }
