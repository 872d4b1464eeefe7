"""The shared vocabulary of the monitor: samples, series, matchers and the small interfaces.

Metric names follow Prometheus conventions (`snake_case`, base units, `_total` for counters,
`_seconds`, `_bytes`, `_ratio`/`_percent`) and are prefixed `clawkeeper_` only when exported;
inside the store they are stored as written by the collector (e.g. `host_cpu_percent`).
Labels are plain string pairs. Timestamps are Unix seconds (float, UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

Labels = tuple[tuple[str, str], ...]  # sorted by key; hashable and canonical


def labels_of(mapping: Mapping[str, str] | None = None, **extra: str) -> Labels:
    """Canonical (sorted, str-valued) label tuple from a mapping and/or keywords."""
    merged = {**(mapping or {}), **extra}
    return tuple(sorted((str(k), str(v)) for k, v in merged.items()))


class MetricKind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"  # monotonically increasing; resets when the process it counts restarts


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    ts: float
    labels: Labels = ()
    kind: MetricKind = MetricKind.GAUGE

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class MetricInfo:
    """What a collector promises to produce: used for /metrics HELP/TYPE, docs and dashboards."""

    name: str
    kind: MetricKind
    help: str
    unit: str = ""  # "seconds", "bytes", "percent", "ratio", "" for counts
    labels: tuple[str, ...] = ()


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    label: str
    op: MatchOp
    value: str


@dataclass(frozen=True)
class Point:
    ts: float
    value: float


class Resolution(StrEnum):
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"


@dataclass(frozen=True)
class Series:
    name: str
    labels: Labels
    points: tuple[Point, ...]
    resolution: Resolution = Resolution.RAW
    stale: bool = False  # the collector that writes it failed at its last attempt

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def last(self) -> Point | None:
        return self.points[-1] if self.points else None


@runtime_checkable
class MetricWriter(Protocol):
    def write(self, samples: Iterable[Sample]) -> int:
        """Store samples; returns how many were stored."""
        ...

    def mark_stale(self, source: str, names: Sequence[str], ts: float, reason: str) -> None:
        """Record that `source` (a collector) failed at `ts`: its series read as stale until written."""
        ...


@runtime_checkable
class MetricReader(Protocol):
    def range(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        start: float,
        end: float,
        resolution: Resolution | None = None,
    ) -> list[Series]:
        """Points of every series of `name` matching all `matchers` with start <= ts <= end.

        `resolution=None` picks the finest resolution that still holds the whole range. Rollup
        points carry the average of their bucket as `value`.
        """
        ...

    def latest(self, name: str, matchers: Sequence[Matcher] = (), *, at: float | None = None) -> list[Series]:
        """The newest point (at or before `at`) of every matching series, one point per series."""
        ...

    def names(self) -> list[str]: ...


@dataclass(frozen=True)
class CollectContext:
    """What a collector gets on each run."""

    now: float  # wall-clock Unix seconds of this collection
    interval_s: float  # how often this collector runs


@runtime_checkable
class Collector(Protocol):
    """One source of metrics. `collect` raises on failure; the daemon then marks its metrics stale
    (see `metrics`) and keeps running the others. Collectors keep their own state between runs
    (previous counters for rates, log file offsets) and must be cheap: the whole keeper has a
    budget of 1% of one core at a 10 s interval."""

    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> Sequence[MetricInfo]: ...

    def collect(self, ctx: CollectContext) -> list[Sample]: ...


@dataclass(frozen=True)
class CollectorStatus:
    name: str
    ok: bool
    last_run: float | None
    duration_s: float | None
    samples: int = 0
    error: str | None = None
    stale_metrics: tuple[str, ...] = field(default_factory=tuple)


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"  # condition true, `for` not yet elapsed
    FIRING = "firing"
    RESOLVED = "resolved"  # was firing, no longer is (kept for notification, then inactive)


@dataclass(frozen=True)
class Alert:
    """One alert instance (a rule and one label set), as the rule engine hands it to notifiers.

    `labels` include `alertname` and `severity`; `fingerprint` is a stable hash of the labels, as
    Alertmanager computes it, so notifications de-duplicate across restarts. Times are Unix seconds.
    """

    name: str
    labels: Labels
    annotations: tuple[tuple[str, str], ...]
    state: AlertState
    value: float | None
    active_since: float | None  # when the condition first held (pending start)
    fired_at: float | None = None
    resolved_at: float | None = None
    fingerprint: str = ""
    silenced_by: str | None = None  # silence id when a silence matches (not notified)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)
