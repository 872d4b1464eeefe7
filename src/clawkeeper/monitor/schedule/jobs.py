"""What the keeper can schedule, and how clawkeeper.toml turns that into the jobs it runs.

A `JobSpec` says what a job is (name, default cron, time limit, capability) and what it runs:
a `CliAction` is `clawkeeper [--config FILE] <args> --json` in a subprocess (heavy work such as a
backup never grows the keeper's memory, and a crash in it cannot take the keeper down); a
`CallAction` is a small function run inside the keeper (no interpreter start-up). `resolve_jobs`
applies `[monitor.schedule]`: the time zone, per-job cron/enabled/timeout overrides, and turns
every problem into one ConfigError naming the job and the value.

A job whose capability is not in this version has no action and is never enabled; a job whose
prerequisite is missing (no backup repository configured) is disabled and says why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clawkeeper.errors import ClawkeeperError, ConfigError, ExitCode
from clawkeeper.monitor.schedule.cron import CronSchedule, resolve_timezone

if TYPE_CHECKING:
    from clawkeeper.config import Settings
    from clawkeeper.monitor.settings import ScheduleSettings

HOUR = 3600.0
NOT_AVAILABLE = "not available in this version"


class JobFailed(ClawkeeperError):
    """An in-process job's work ran and did not succeed."""

    exit_code = ExitCode.FAILED


@dataclass
class JobContext:
    """What a run of a job gets from the scheduler."""

    job: str
    now: float  # Unix seconds when the run started
    timeout_s: float
    cancel: threading.Event  # set when the keeper stops and the grace period is over
    log_path: Path  # where a subprocess's output goes (the last run's output only)
    on_spawn: Callable[[int], None]  # told the child's PID as soon as it exists


@dataclass(frozen=True)
class CliAction:
    """Run `clawkeeper [--config FILE] *args` as a subprocess (args include `--json`)."""

    args: tuple[str, ...]


@dataclass(frozen=True)
class CallAction:
    """Run `func` in a worker thread of the keeper; it returns a detail dict or raises.

    Keep these small and bounded (an HTTP call with a timeout, a few SQL statements): a thread
    cannot be killed, so the job's timeout is not enforced on them.
    """

    func: Callable[[JobContext], Mapping[str, Any]]
    label: str


Action = CliAction | CallAction


@dataclass(frozen=True)
class JobSpec:
    name: str
    description: str
    cron: str  # the default schedule
    capability: str  # backup, releases, probes, monitor, audit, drill, ...
    timeout_s: float
    action: Action | None  # None: the capability is not in this version
    missing: str | None = None  # a prerequisite this host lacks (the job is disabled), or None


@dataclass(frozen=True)
class Job:
    """A spec with clawkeeper.toml applied: what the scheduler runs."""

    spec: JobSpec
    schedule: CronSchedule
    timezone: str  # the zone's name, for display
    timeout_s: float
    enabled: bool
    why_not: str | None = None  # why it is disabled

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cron(self) -> str:
        return self.schedule.expr

    @property
    def available(self) -> bool:
        return self.spec.action is not None


# --- the default jobs ----------------------------------------------------------------------


def default_jobs(
    settings: Settings,
    *,
    maintenance: Callable[[float], object] | None = None,
    release_cache_dir: Path | None = None,
) -> list[JobSpec]:
    """The jobs of this version, with prerequisites checked against `settings`.

    `maintenance(now)` is extra monitor-store upkeep the `cleanup` job runs (in a worker thread,
    so it must use its own database connection). Later capabilities add their jobs here.
    """
    from clawkeeper.monitor.schedule.cleanup import cleanup_job

    no_repo = None if settings.backup.repo is not None else "no backup repository configured (backup.repo)"
    sample = f"{settings.backup.verify_sample_percent:g}%"
    return [
        JobSpec(
            name="backup",
            description="incremental snapshot of the agent (backup create)",
            cron="0 */4 * * *",
            capability="backup",
            timeout_s=3 * HOUR,
            action=CliAction(("backup", "create", "--json")),
            missing=no_repo,
        ),
        JobSpec(
            name="backup-verify",
            description=f"check the repository and read back a rotating {sample} of its data",
            cron="30 3 * * *",
            capability="backup",
            timeout_s=2 * HOUR,
            action=CliAction(("backup", "verify", "--sample", sample, "--json")),
            missing=no_repo,
        ),
        JobSpec(
            name="update-check",
            description="refresh release information from the npm registry",
            cron="0 6 * * *",
            capability="releases",
            timeout_s=120.0,
            action=CallAction(
                _update_check(settings, release_cache_dir), label="in-process: refresh the release cache"
            ),
        ),
        JobSpec(
            name="verify",
            description="capability probes against the agent (verify --suite smoke)",
            cron="0 5 * * *",
            capability="probes",
            timeout_s=0.5 * HOUR,
            action=CliAction(("verify", "--suite", "smoke", "--json")),
        ),
        JobSpec(
            name="cleanup",
            description="prune old ledger runs and tidy the monitor database",
            cron="30 4 * * *",
            capability="monitor",
            timeout_s=0.5 * HOUR,
            action=CallAction(
                cleanup_job(
                    ledger_path=settings.ledger.path,
                    monitor_db=settings.monitor.store.path,
                    retention_s=settings.monitor.schedule.ledger_retention,
                    maintenance=maintenance,
                ),
                label="in-process: prune ledger runs, optimize the monitor database",
            ),
        ),
        JobSpec(
            name="audit",
            description="security and access audit",
            cron="0 7 * * 0",
            capability="audit",
            timeout_s=HOUR,
            action=None,
        ),
        JobSpec(
            name="drill",
            description="restore drill into a sandbox, measuring RPO/RTO",
            cron="0 8 1 1,7 *",
            capability="drill",
            timeout_s=2 * HOUR,
            action=None,
        ),
    ]


def _update_check(settings: Settings, cache_dir: Path | None) -> Callable[[JobContext], Mapping[str, Any]]:
    releases = settings.releases

    def run(_ctx: JobContext) -> Mapping[str, Any]:
        import platformdirs

        from clawkeeper.runbook.releases import ReleaseSource

        where = cache_dir or Path(platformdirs.user_cache_dir("clawkeeper"))
        facts, _stale, error = ReleaseSource(releases, where).facts(refresh=True)
        if facts is None or error:
            raise JobFailed(
                error or "no release information", hint="check network access to releases.registry"
            )
        return {"package": facts.package, "dist_tags": facts.dist_tags, "fetched_at": facts.fetched_at}

    return run


# --- applying [monitor.schedule] -------------------------------------------------------------


def resolve_jobs(specs: Sequence[JobSpec], settings: ScheduleSettings) -> list[Job]:
    """Apply the schedule settings to `specs`. Raises ConfigError naming the job and the value."""
    try:
        tz, tz_name = resolve_timezone(settings.timezone)
    except ValueError as exc:
        raise ConfigError(
            f"monitor.schedule.timezone: {exc}", hint="set an IANA name or remove the key for local time"
        ) from None
    known = {spec.name for spec in specs}
    unknown = sorted(set(settings.jobs) - known)
    if unknown:
        raise ConfigError(
            f"monitor.schedule.jobs: no job called {', '.join(repr(n) for n in unknown)}",
            hint=f"the jobs are {', '.join(sorted(known))} (`clawkeeper schedule list`)",
        )
    return [_resolve(spec, settings, tz, tz_name) for spec in specs]


def _resolve(spec: JobSpec, settings: ScheduleSettings, tz: tzinfo, tz_name: str) -> Job:
    override = settings.jobs.get(spec.name)
    cron = override.cron if override is not None and override.cron is not None else spec.cron
    try:
        schedule = CronSchedule.parse(cron, tz)
    except ValueError as exc:
        raise ConfigError(
            f"monitor.schedule.jobs.{spec.name}.cron = {cron!r} is invalid: {exc}",
            hint=f"fix it, or remove the key to use the default ({spec.cron!r})",
        ) from None
    timeout = override.timeout if override is not None and override.timeout else spec.timeout_s
    why_not: str | None = None
    if spec.action is None:
        why_not = NOT_AVAILABLE
    elif spec.missing is not None:
        why_not = spec.missing
    elif override is not None and not override.enabled:
        why_not = f"disabled in the config (monitor.schedule.jobs.{spec.name}.enabled = false)"
    return Job(
        spec=spec,
        schedule=schedule,
        timezone=tz_name,
        timeout_s=timeout,
        enabled=why_not is None,
        why_not=why_not,
    )
