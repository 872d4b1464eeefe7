"""The schedule wired from clawkeeper.toml: what `clawkeeper up` and `clawkeeper schedule` use."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clawkeeper.monitor.model import MetricWriter
from clawkeeper.monitor.schedule.jobs import Job, default_jobs, resolve_jobs
from clawkeeper.monitor.schedule.runner import JobRunner, ProcessRunner
from clawkeeper.monitor.schedule.scheduler import Scheduler

if TYPE_CHECKING:
    from clawkeeper.config import Settings


def build_jobs(settings: Settings, *, maintenance: Callable[[float], object] | None = None) -> list[Job]:
    """The jobs of this version with `[monitor.schedule]` applied. Raises ConfigError."""
    return resolve_jobs(default_jobs(settings, maintenance=maintenance), settings.monitor.schedule)


def build_scheduler(
    settings: Settings,
    *,
    config_path: Path | None,
    metrics: MetricWriter | None = None,
    maintenance: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.time,
    runner: JobRunner | None = None,
) -> Scheduler:
    """A scheduler for the keeper. `config_path` is the file the keeper loaded (`LoadedConfig.path`):
    jobs get the same `--config`, so they see the same settings."""
    return Scheduler(
        build_jobs(settings, maintenance=maintenance),
        settings.monitor.schedule,
        settings.monitor.store.path,
        settings.ledger.path,
        clock,
        runner or ProcessRunner(config_path),
        metrics=metrics,
    )
