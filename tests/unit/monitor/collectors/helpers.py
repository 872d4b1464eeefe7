"""Shared helpers for the collector tests: a collect context and the recorded OpenClaw fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clawkeeper.monitor.model import CollectContext, Sample

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "openclaw"
VERSIONS = ("2026.8.2", "2026.9.6")


def ctx(now: float = 1_800_000_000.0, interval_s: float = 10.0) -> CollectContext:
    return CollectContext(now=now, interval_s=interval_s)


def fixture_json(version: str, name: str) -> Any:
    return json.loads((FIXTURES / version / name).read_text())


def values(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(name, labels): value} of a collection, for exact assertions."""
    return {(s.name, s.labels): s.value for s in samples}


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    wanted = tuple(sorted(labels.items()))
    found = [s.value for s in samples if s.name == name and s.labels == wanted]
    assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
    return found[0] if found else None
