"""What every collector shares: sample constructors, cumulative counters, and the collector error.

A collector keeps its own state between runs (previous counters for rates, log offsets, counts so
far) and returns samples; it raises when it cannot observe its source, and the keeper then marks
all of its metrics stale. Counters count from the moment the keeper started watching (a keeper
restart resets them, as a process restart resets any Prometheus counter; `rate()` copes).
"""

from __future__ import annotations

from collections.abc import Iterable

from clawkeeper.errors import ClawkeeperError, ExitCode
from clawkeeper.monitor.model import Labels, MetricInfo, MetricKind, Sample, labels_of


class CollectorError(ClawkeeperError):
    """A collector could not observe its source; its metrics go stale until the next success."""

    exit_code = ExitCode.FAILED


def gauge(name: str, value: float, ts: float, **labels: str) -> Sample:
    return Sample(name, float(value), ts, labels_of(labels), MetricKind.GAUGE)


def counter(name: str, value: float, ts: float, **labels: str) -> Sample:
    return Sample(name, float(value), ts, labels_of(labels), MetricKind.COUNTER)


def info(
    name: str, help: str, *, unit: str = "", labels: tuple[str, ...] = (), kind: MetricKind = MetricKind.GAUGE
) -> MetricInfo:
    """A MetricInfo, shorter to write in each collector's `METRICS` table."""
    return MetricInfo(name=name, kind=kind, help=help, unit=unit, labels=labels)


def counter_info(name: str, help: str, *, unit: str = "", labels: tuple[str, ...] = ()) -> MetricInfo:
    return info(name, help, unit=unit, labels=labels, kind=MetricKind.COUNTER)


class CounterSet:
    """Cumulative counters by (name, labels), emitted as COUNTER samples on every run.

    `declare` makes a series exist at 0 before anything was counted, so `rate()` over it is 0
    rather than absent, and alert rules see "no errors" instead of "no data".
    """

    def __init__(self) -> None:
        self._values: dict[tuple[str, Labels], float] = {}

    def declare(self, name: str, **labels: str) -> None:
        self._values.setdefault((name, labels_of(labels)), 0.0)

    def add(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, labels_of(labels))
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        return self._values.get((name, labels_of(labels)), 0.0)

    def samples(self, ts: float) -> list[Sample]:
        return [
            Sample(name, value, ts, labels, MetricKind.COUNTER)
            for (name, labels), value in sorted(self._values.items())
        ]


def names_of(metrics: Iterable[MetricInfo]) -> tuple[str, ...]:
    return tuple(m.name for m in metrics)
