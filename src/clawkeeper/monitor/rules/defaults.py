"""The built-in rules, with `[monitor.rules.overrides.<AlertName>]` applied.

Names and metrics are fixed (docs/monitoring.md lists them); thresholds, timings and severity
can be overridden per rule. Overrides are applied here, before the texts are written, so the
summary and description quote the thresholds actually in force.

When the collector a rule reads is switched off, missing data is just missing (no alert).
Lookback windows follow the collectors' intervals: a `last` value older than its window counts as
stale. GatewayNotReady treats a stale or missing `gateway_ready` as "not ready" (the gateway, or the
keeper's collector, being unable to tell is itself trouble); BackupRpoMissed treats a missing
`backup_last_verified_age_seconds` as "no verified backup ever" (+Inf).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.model import Matcher, MatchOp
from clawkeeper.monitor.rules.spec import Baseline, Op, Reduction, RuleSpec, Severity
from clawkeeper.monitor.settings import MonitorSettings, RuleOverride

DEFAULT_NAMES = (
    "HostHighCpu",
    "HostMemoryPressure",
    "HostSwapPressure",
    "HostDiskPressure",
    "GatewayNotReady",
    "GatewayDown",
    "AgentErrorSpike",
    "DataVolumeDrop",
    "BackupRpoMissed",
    "SecurityPatchOverdue",
    "ScheduledJobFailed",
)


@dataclass(frozen=True)
class _Tuned:
    """A default rule's numbers after its override."""

    enabled: bool
    threshold: float
    resolve: float | None
    for_s: float
    keep_s: float
    severity: Severity


def _tune(
    override: RuleOverride | None,
    *,
    threshold: float,
    resolve: float | None = None,
    for_s: float = 0.0,
    keep_s: float = 0.0,
    severity: Severity = "warning",
) -> _Tuned:
    if override is None:
        return _Tuned(True, threshold, resolve, for_s, keep_s, severity)
    new_threshold = threshold if override.threshold is None else override.threshold
    new_resolve = resolve if override.resolve_threshold is None else override.resolve_threshold
    if override.threshold is not None and override.resolve_threshold is None and resolve is not None:
        # keep the built-in gap between firing and resolving when only the threshold moves
        new_resolve = new_threshold - (threshold - resolve)
    return _Tuned(
        enabled=override.enabled,
        threshold=new_threshold,
        resolve=new_resolve,
        for_s=for_s if override.for_ is None else override.for_,
        keep_s=keep_s if override.keep_firing_for is None else override.keep_firing_for,
        severity=severity if override.severity is None else override.severity,
    )


def _interval(monitor: MonitorSettings, collector: str, default: float) -> float:
    toggle = getattr(monitor.collectors, collector, None)
    configured = getattr(toggle, "interval", None)
    if isinstance(configured, int | float) and configured > 0:
        return float(configured)
    return default


def _collects(monitor: MonitorSettings, collector: str) -> bool:
    """Is this collector on? A rule that treats missing data as trouble must not, when it is off."""
    toggle = getattr(monitor.collectors, collector, None)
    return bool(getattr(toggle, "enabled", True))


def _d(seconds: float) -> str:
    return format_duration(seconds)


def default_rules(monitor: MonitorSettings) -> list[RuleSpec]:
    """The built-in rules in force (disabled ones included, with `enabled=False`)."""
    overrides = monitor.rules.overrides
    base = monitor.interval
    gateway_every = _interval(monitor, "gateway", base)
    backup_every = _interval(monitor, "backup", 300.0)
    releases_every = _interval(monitor, "releases", 3600.0)
    rules: list[RuleSpec] = []

    t = _tune(overrides.get("HostHighCpu"), threshold=85, resolve=75, for_s=300)
    rules.append(
        RuleSpec(
            name="HostHighCpu",
            metric="host_cpu_percent",
            reduction=Reduction.AVG,
            window=300,
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary='Host CPU {{ printf "%.0f" $value }}% busy (5-minute average)',
            description=(
                f"The host's CPU has been busier than {t.threshold:g}% for {_d(t.for_s)}; the agent "
                "answers slowly or times out. It resolves below "
                f"{(t.resolve if t.resolve is not None else t.threshold):g}%."
            ),
            runbook=(
                "Find the busiest processes (`top -o %CPU`); `clawkeeper status` shows whether it is the "
                "gateway. A runaway tool or cron job is the usual cause."
            ),
        )
    )

    t = _tune(overrides.get("HostMemoryPressure"), threshold=90, resolve=85, for_s=300)
    rules.append(
        RuleSpec(
            name="HostMemoryPressure",
            metric="host_memory_used_percent",
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary='Host memory {{ printf "%.0f" $value }}% used',
            description=(
                f"More than {t.threshold:g}% of the host's memory has been in use for {_d(t.for_s)}; "
                "the kernel may start killing processes, the gateway first."
            ),
            runbook=(
                "Check the gateway's memory (`clawkeeper metrics gateway_process_rss_bytes`) and the "
                "biggest processes (`ps aux --sort=-rss | head`); restart what leaks or add memory."
            ),
        )
    )

    t = _tune(overrides.get("HostSwapPressure"), threshold=80, for_s=600)
    rules.append(
        RuleSpec(
            name="HostSwapPressure",
            metric="host_swap_used_percent",
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary='Host swap {{ printf "%.0f" $value }}% used',
            description=(
                f"More than {t.threshold:g}% of swap has been in use for {_d(t.for_s)}: the host is short "
                "of memory and everything slows down."
            ),
            runbook="See HostMemoryPressure: find what holds the memory (`ps aux --sort=-rss | head`).",
        )
    )

    t = _tune(overrides.get("HostDiskPressure"), threshold=90, resolve=85, for_s=600)
    rules.append(
        RuleSpec(
            name="HostDiskPressure",
            metric="host_disk_used_percent",
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary='Disk {{ $labels.mountpoint }} {{ printf "%.0f" $value }}% full',
            description=(
                f"The filesystem at {{{{ $labels.mountpoint }}}} has been more than {t.threshold:g}% full "
                f"for {_d(t.for_s)}. A full disk corrupts the agent's SQLite state and stops backups."
            ),
            runbook=(
                "Find what grew (`du -xh --max-depth=2 {{ $labels.mountpoint }} | sort -h | tail`); "
                "prune old snapshots with `clawkeeper backup prune` and the agent's logs."
            ),
        )
    )

    t = _tune(overrides.get("GatewayNotReady"), threshold=0, for_s=120, keep_s=60, severity="critical")
    rules.append(
        RuleSpec(
            name="GatewayNotReady",
            metric="gateway_ready",
            window=max(60.0, 3 * gateway_every),
            op=Op.EQ,
            threshold=t.threshold,
            treat_stale_as=0.0 if _collects(monitor, "gateway") else None,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="The OpenClaw gateway is not ready",
            description=(
                f"/readyz has not answered 200 for {_d(t.for_s)} (or the keeper could not tell): "
                "messages are not being handled."
            ),
            runbook=(
                "Run `clawkeeper status` and `openclaw gateway status --json --deep`; read the failing "
                "entries of /readyz and `openclaw logs`. If it is stuck, `openclaw gateway restart --safe`."
            ),
        )
    )

    t = _tune(overrides.get("GatewayDown"), threshold=0, for_s=60, severity="critical")
    rules.append(
        RuleSpec(
            name="GatewayDown",
            metric="gateway_live",
            window=max(300.0, 3 * gateway_every),
            op=Op.EQ,
            threshold=t.threshold,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="The OpenClaw gateway is down",
            description=f"/healthz has failed for {_d(t.for_s)}: the gateway process is not serving.",
            runbook=(
                "Run `openclaw gateway status --json`; start it with `openclaw gateway start` (or your "
                "service manager) and read `openclaw logs` for why it stopped."
            ),
        )
    )

    t = _tune(overrides.get("AgentErrorSpike"), threshold=5, for_s=300)
    rules.append(
        RuleSpec(
            name="AgentErrorSpike",
            metric="agent_log_errors_total",
            reduction=Reduction.RATE_PER_MINUTE,
            window=300,
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary='The agent logs {{ printf "%.1f" $value }} errors a minute',
            description=(
                f"The agent's log has shown more than {t.threshold:g} errors a minute (5-minute rate) for "
                f"{_d(t.for_s)}."
            ),
            runbook=(
                "Read the errors: `openclaw logs --json | grep -i error | tail`. A model provider outage "
                "or an expired credential is the usual cause; `clawkeeper audit` checks the credentials."
            ),
        )
    )

    t = _tune(overrides.get("DataVolumeDrop"), threshold=0.2, for_s=1800)
    rules.append(
        RuleSpec(
            name="DataVolumeDrop",
            metric="data_messages_total",
            matchers=(Matcher("direction", MatchOp.EQ, "in"),),
            reduction=Reduction.INCREASE,
            window=3600,
            op=Op.LT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            baseline=Baseline(window=86400, min_value=5.0),
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="Inbound messages dropped to {{ $value | humanize }} in the last hour",
            description=(
                f"The last hour brought fewer than {t.threshold * 100:g}% of the previous day's hourly "
                "average of inbound messages (checked when that average is at least 5 an hour). A "
                "channel may be disconnected or its credentials expired."
            ),
            runbook=(
                "Check the channels: `openclaw status --json --deep` and `openclaw channels status`; look "
                "for auth errors in `openclaw logs`."
            ),
        )
    )

    t = _tune(
        overrides.get("BackupRpoMissed"), threshold=monitor.rules.backup_rpo, for_s=600, severity="critical"
    )
    rules.append(
        RuleSpec(
            name="BackupRpoMissed",
            metric="backup_last_verified_age_seconds",
            window=max(900.0, 3 * backup_every),
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            treat_stale_as=math.inf if _collects(monitor, "backup") else None,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="No verified backup for {{ $value | humanizeDuration }}",
            description=(
                f"The newest verified backup is older than the recovery point objective ({_d(t.threshold)}), "
                "or there is none (+Inf). A restore now would lose everything since."
            ),
            runbook=(
                "Run `clawkeeper backup create` and `clawkeeper backup verify`; `clawkeeper history` shows "
                "why the scheduled backup failed."
            ),
        )
    )

    t = _tune(overrides.get("SecurityPatchOverdue"), threshold=monitor.rules.security_patch_deadline)
    rules.append(
        RuleSpec(
            name="SecurityPatchOverdue",
            metric="update_security_patch_pending_seconds",
            window=max(7200.0, 3 * releases_every),
            op=Op.GT,
            threshold=t.threshold,
            resolve_threshold=t.resolve,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="A security release has waited {{ $value | humanizeDuration }}",
            description=(
                "A security release of OpenClaw has not been applied within the deadline "
                f"({_d(t.threshold)})."
            ),
            runbook="Run `clawkeeper update plan` then `clawkeeper update run`.",
        )
    )

    t = _tune(overrides.get("ScheduledJobFailed"), threshold=1)
    rules.append(
        RuleSpec(
            name="ScheduledJobFailed",
            metric="job_last_failed",
            # jobs run daily, weekly or monthly: their last outcome stays current until the next run
            window=32 * 86400.0,
            op=Op.EQ,
            threshold=t.threshold,
            for_s=t.for_s,
            keep_firing_for_s=t.keep_s,
            severity=t.severity,
            enabled=t.enabled,
            summary="Scheduled job {{ $labels.job }} failed",
            description=(
                "The last run of the scheduled job {{ $labels.job }} failed; it resolves when a run succeeds."
            ),
            runbook=(
                "`clawkeeper schedule list` shows its last run and `clawkeeper history` the error; rerun it "
                "with `clawkeeper schedule run {{ $labels.job }}`."
            ),
        )
    )
    return rules
