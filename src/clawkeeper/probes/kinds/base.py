"""The one interface every probe kind implements, and what a measurement returns.

A kind turns its validated parameters into a `Probe`. `Probe.measure` takes one measurement and
returns a `Measurement` whose `result` mapping is what the suite's conditions read. A kind that
could not take the measurement at all (a timeout, output it cannot parse) raises
`MeasurementError`: Argo's "error", which is *not* a failure, because nothing was learned about
the agent. A definite bad answer (connection refused, exit code 1, the tool never ran) is a
normal measurement whose `result` fails the condition, with `problem` saying why in words a
user understands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from clawkeeper.probes.env import ProbeEnv


class Requirement(StrEnum):
    CLI = "cli"  # runs the agent's CLI (an OpenClaw target)
    GATEWAY = "gateway"  # talks to the gateway over HTTP
    STATE_DIR = "state-dir"  # reads the agent's state directory from here
    MODEL = "model"  # drives the probe agent, so it needs the probe model (or a consented real model)


@dataclass(frozen=True)
class Measurement:
    result: dict[str, Any]
    evidence: str  # one line: what was observed ("GET /readyz → 200 in 12 ms")
    problem: str | None = None  # why this is bad, when the kind knows
    skip_reason: str | None = None  # nothing to check here (e.g. no channels configured)
    memo: dict[str, Any] = field(default_factory=dict)  # kept in the ledger for the next baseline


class MeasurementError(Exception):
    """The measurement could not be taken; `reason` says why (counted as an error, not a failure)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Probe(Protocol):
    @property
    def requires(self) -> frozenset[Requirement]: ...

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement: ...


class KindParams(BaseModel):
    """Base of every kind's parameters: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class KindInfo:
    name: str
    summary: str
    params: type[KindParams]
    build: Callable[[Any], Probe]
    default_success: str | None = "result.ok"

    def create(self, params: KindParams) -> Probe:
        return self.build(params)


def as_list(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty list (OpenClaw output is read defensively)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def excerpt(text: str, limit: int = 200) -> str:
    """One line of at most `limit` characters, for evidence and reasons."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
