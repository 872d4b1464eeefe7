"""The `[monitor]` section of clawkeeper.toml: the keeper daemon (`clawkeeper up`).

Each part owns one sub-section: `[monitor.store]`, `[monitor.collectors]`, `[monitor.rules]`,
`[monitor.notify]`, `[monitor.exporter]`, `[monitor.schedule]`. Durations are written as strings
such as "90s", "5m", "2h", "7d" (see `durations.py`) or as plain seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator

from clawkeeper.monitor.durations import Duration

APP = "clawkeeper"


def _default_db() -> Path:
    return Path(platformdirs.user_state_dir(APP)) / "monitor.sqlite"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    """The embedded time-series store and alert state (one SQLite file, WAL)."""

    path: Path = Field(default_factory=_default_db)
    raw_retention: Duration = 3 * 86400.0
    minute_retention: Duration = 35 * 86400.0
    hour_retention: Duration = 400 * 86400.0


class CollectorToggle(_Section):
    enabled: bool = True
    interval: Duration | None = None  # None: the collector's default (monitor.interval, or slower)


class CollectorSettings(_Section):
    """Which collectors run and how often (see docs/monitoring.md, "Collectors")."""

    host: CollectorToggle = Field(default_factory=CollectorToggle)
    process: CollectorToggle = Field(default_factory=CollectorToggle)
    gateway: CollectorToggle = Field(default_factory=CollectorToggle)
    # `gateway call status`, `health` and `cron list` spawn the Node CLI (~2 s CPU each): every
    # 15 min they average ~0.7% of one core, so slow by default to keep the keeper's 1% budget
    gateway_rpc: CollectorToggle = Field(default_factory=lambda: CollectorToggle(interval=900.0))
    agent_log: CollectorToggle = Field(default_factory=CollectorToggle)
    data_quality: CollectorToggle = Field(default_factory=lambda: CollectorToggle(interval=60.0))
    backup: CollectorToggle = Field(default_factory=lambda: CollectorToggle(interval=300.0))
    releases: CollectorToggle = Field(default_factory=lambda: CollectorToggle(interval=3600.0))
    keeper: CollectorToggle = Field(default_factory=CollectorToggle)
    # OpenClaw's JSONL log; empty: `logging.file` from the agent's config, else /tmp/openclaw/
    log_path: Path | None = None
    disk_paths: list[Path] = Field(default_factory=list)  # empty: / and the agent's state dir


class RuleOverride(_Section):
    """Changes to one rule, under `[monitor.rules.overrides.<AlertName>]`; unset keys keep the rule's."""

    enabled: bool = True
    threshold: float | None = None
    resolve_threshold: float | None = None
    for_: Duration | None = Field(default=None, alias="for")
    keep_firing_for: Duration | None = None
    severity: Literal["info", "warning", "critical"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuleSettings(_Section):
    """Alert rules: the built-in ones (tuned by `overrides`), the user's rule files, and how the
    engine treats flapping and restarts (docs/monitoring.md, "Alert rules")."""

    evaluation_interval: Duration | None = None  # None: monitor.interval
    rule_files: list[Path] = Field(default_factory=list)  # extra TOML rule files
    overrides: dict[str, RuleOverride] = Field(default_factory=dict)  # by alert name
    backup_rpo: Duration = 26 * 3600.0  # "no verified backup within the RPO"
    security_patch_deadline: Duration = 72 * 3600.0
    flap_window: Duration = 3600.0
    flap_threshold: Annotated[int, Field(ge=2)] = 4  # state changes within flap_window
    flap_stable_for: Duration = 900.0  # a flapping alert resolves after its condition is false this long
    # after a keeper outage shorter than this, pending alerts keep their start (Prometheus'
    # --rules.alert.for-outage-tolerance); after a longer one their `for` starts again
    outage_tolerance: Duration = 3600.0


class WebhookTarget(_Section):
    """An Alertmanager-compatible webhook receiver (payload version 4)."""

    url: str
    bearer_token_file: Path | None = None  # 0600 file holding a token; never the token itself
    timeout: Duration = 10.0
    name: str | None = None  # shown in delivery history; default: "webhook:<host>"
    max_alerts: Annotated[int, Field(ge=0)] = 0  # 0: all; else the rest count as truncatedAlerts


class NotifySettings(_Section):
    apprise_urls: list[str] = Field(default_factory=list)
    apprise_config: Path | None = None  # an apprise config file (keeps secrets out of clawkeeper.toml)
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True
    # Route notifications through the watched agent's own channels too. Off: it may be what broke.
    via_agent: bool = False
    external_url: str = ""  # sent as externalURL/generatorURL (e.g. where this keeper's /metrics is)


class ExporterSettings(_Section):
    enabled: bool = True
    bind: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9469
    auth: Literal["none", "bearer", "basic"] = "none"
    token_file: Path | None = None  # bearer token, or "user:password" for basic; 0600


class JobSettings(_Section):
    """One scheduled job's overrides, under `[monitor.schedule.jobs.<name>]`."""

    cron: str | None = None  # None: the job's default schedule; five fields or @daily, @hourly, ...
    enabled: bool = True
    timeout: Duration | None = None  # None: the job's default time limit

    @field_validator("cron")
    @classmethod
    def _cron_expression(cls, value: str | None) -> str | None:
        if value is not None:
            from clawkeeper.monitor.schedule.cron import check_cron  # cronsim only when a cron is set

            check_cron(value)
        return value


class ScheduleSettings(_Section):
    """The maintenance schedule the keeper runs (`clawkeeper schedule list`)."""

    timezone: str | None = None  # IANA name; None: the host's local time zone
    catch_up: bool = True  # run a missed job once after downtime
    jobs: dict[str, JobSettings] = Field(default_factory=dict)  # by job name
    max_parallel: Annotated[int, Field(ge=1, le=16)] = 2  # jobs running at once; the rest wait
    drain_grace: Duration = 60.0  # on SIGTERM, running jobs get this long before they are stopped
    ledger_retention: Duration = 365 * 86400.0  # `cleanup` prunes older ledger runs; 0 keeps all

    @field_validator("timezone")
    @classmethod
    def _timezone_name(cls, value: str | None) -> str | None:
        if value is not None:
            from clawkeeper.monitor.schedule.cron import check_timezone

            check_timezone(value)
        return value


class MonitorSettings(_Section):
    interval: Duration = 10.0
    store: StoreSettings = Field(default_factory=StoreSettings)
    collectors: CollectorSettings = Field(default_factory=CollectorSettings)
    rules: RuleSettings = Field(default_factory=RuleSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    exporter: ExporterSettings = Field(default_factory=ExporterSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
