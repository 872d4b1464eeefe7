"""A store in a temporary SQLite file with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawkeeper.monitor.settings import StoreSettings
from clawkeeper.monitor.tsdb import TimeSeriesStore

NOW = 1_800_000_000.0  # a whole hour (500,000 h after the epoch): bucket edges are easy to read


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "monitor.sqlite"


@pytest.fixture
def store(db_path: Path, clock: Clock) -> Iterator[TimeSeriesStore]:
    with TimeSeriesStore(db_path, settings=StoreSettings(path=db_path), clock=clock) as opened:
        yield opened
