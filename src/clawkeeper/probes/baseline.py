"""Baselines: what a probe measured the last time the agent was known good.

A baseline is per probe name: the samples of its compared metric and the kind's `memo` (for
example the security audit's critical findings). `LedgerBaselines` reads them from earlier
`verify` runs in the ledger (the newest run on the same target where that probe passed);
`StaticBaselines` takes them from the caller, which is how the update runbook compares a canary
with the measurements it took before the update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from clawkeeper.ledger import Ledger

STEP_PREFIX = "probe:"
VERIFY_COMMAND = "verify"


@dataclass(frozen=True)
class Baseline:
    samples: tuple[float, ...] = ()
    memo: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # "run 12 (2026-11-22 04:10)", for the report


class BaselineSource(Protocol):
    def get(self, probe: str) -> Baseline | None: ...


class NoBaselines:
    def get(self, probe: str) -> Baseline | None:
        return None


@dataclass(frozen=True)
class StaticBaselines:
    baselines: Mapping[str, Baseline]

    def get(self, probe: str) -> Baseline | None:
        return self.baselines.get(probe)


class LedgerBaselines:
    """Baselines from this target's earlier verify runs (read once, on first use)."""

    def __init__(
        self, ledger: Ledger, target: str, *, exclude_run: int | None = None, depth: int = 50
    ) -> None:
        self._ledger = ledger
        self._target = target
        self._exclude = exclude_run
        self._depth = depth
        self._cache: dict[str, Baseline] | None = None

    def get(self, probe: str) -> Baseline | None:
        if self._cache is None:
            self._cache = self._load()
        return self._cache.get(probe)

    def _load(self) -> dict[str, Baseline]:
        found: dict[str, Baseline] = {}
        for run in self._ledger.recent_runs(limit=self._depth, command=VERIFY_COMMAND):
            if run.target != self._target or run.id == self._exclude:
                continue
            record = self._ledger.get_run(run.id)
            for step in record.steps:
                if not step.name.startswith(STEP_PREFIX):
                    continue
                name = step.name[len(STEP_PREFIX) :]
                if name in found or step.detail.get("verdict") != "passed":
                    continue
                samples = step.detail.get("samples")
                memo = step.detail.get("memo")
                found[name] = Baseline(
                    samples=tuple(float(s) for s in samples) if isinstance(samples, list) else (),
                    memo=memo if isinstance(memo, dict) else {},
                    source=f"run {record.id} ({record.started_at[:16].replace('T', ' ')})",
                )
        return found


def numeric_samples(values: Sequence[Any]) -> list[float]:
    out: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        out.append(float(value))
    return out
