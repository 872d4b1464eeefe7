"""Which collectors the keeper runs, and how often: `build_collectors`.

Each collector's interval is `[monitor.collectors.<name>] interval`, else its default in
`CollectorSettings` (the slow ones: gateway_rpc, data_quality, backup, releases), else
`monitor.interval`. `enabled = false` leaves a collector out. The OpenClaw-specific collectors
(process, gateway_rpc, agent_log, data_quality, releases) are built only for an OpenClaw agent; a
generic agent gets host, gateway (its health/ready URLs), backup and keeper.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from clawkeeper.agent.adapter import AgentAdapter
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.errors import ClawkeeperError
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.agent_log import AgentLogCollector
from clawkeeper.monitor.collectors.backup import BackupCollector
from clawkeeper.monitor.collectors.data_quality import DataQualityCollector
from clawkeeper.monitor.collectors.gateway import GatewayCollector
from clawkeeper.monitor.collectors.gateway_rpc import GatewayRpcCollector, cli_runner
from clawkeeper.monitor.collectors.host import HostCollector
from clawkeeper.monitor.collectors.keeper import KeeperCollector
from clawkeeper.monitor.collectors.process import ProcessCollector
from clawkeeper.monitor.collectors.releases import ReleasesCollector
from clawkeeper.monitor.model import Collector
from clawkeeper.monitor.settings import CollectorSettings, CollectorToggle

COLLECTOR_NAMES = (
    "host",
    "process",
    "gateway",
    "gateway_rpc",
    "agent_log",
    "data_quality",
    "backup",
    "releases",
    "keeper",
)
OPENCLAW_ONLY = frozenset({"process", "gateway_rpc", "agent_log", "data_quality", "releases"})
MIN_INTERVAL_S = 1.0


def collector_interval(settings: Settings, name: str) -> float:
    toggle: CollectorToggle = getattr(settings.monitor.collectors, name)
    return max(MIN_INTERVAL_S, toggle.interval if toggle.interval is not None else settings.monitor.interval)


def _disk_paths(collectors: CollectorSettings, link: AgentLink) -> list[Path]:
    if collectors.disk_paths:
        return list(collectors.disk_paths)
    if not link.is_openclaw:
        return []
    try:
        return [link.state_dir()]
    except ClawkeeperError:
        return []  # no agent yet: / alone


def build_collectors(
    settings: Settings,
    target: OpenClawTarget | None,
    adapter: AgentAdapter | None,
    *,
    cache_dir: Path | None = None,
    choice: str | None = None,
) -> list[tuple[Collector, float]]:
    """The enabled collectors with their intervals, in a stable order.

    `target`/`adapter` are what the keeper resolved at start; with neither, an OpenClaw agent is
    looked up again at most every few minutes (see `AgentLink`), so the agent collectors report
    stale metrics until one appears. Nothing here spawns a process or touches the network.
    `choice` is the `--target` the user asked for (e.g. "lab:work"): a lab target is looked up
    again every few seconds, so a lab gateway that is stopped and started again is followed.
    """
    collectors = settings.monitor.collectors
    link = AgentLink(settings, target, adapter, choice=choice)
    cache = cache_dir or Path(platformdirs.user_cache_dir("clawkeeper"))
    built: list[tuple[Collector, float]] = []

    def wanted(name: str) -> bool:
        toggle: CollectorToggle = getattr(collectors, name)
        if not toggle.enabled:
            return False
        if name in OPENCLAW_ONLY and not link.is_openclaw:
            return False
        return not (name == "gateway" and not link.is_openclaw and adapter is None)

    for name in COLLECTOR_NAMES:
        if not wanted(name):
            continue
        collector: Collector
        if name == "host":
            collector = HostCollector(lambda: _disk_paths(collectors, link))
        elif name == "process":
            collector = ProcessCollector.for_agent(link)
        elif name == "gateway":
            collector = GatewayCollector(link)
        elif name == "gateway_rpc":
            collector = GatewayRpcCollector(cli_runner(link))
        elif name == "agent_log":
            collector = AgentLogCollector.for_agent(link, collectors.log_path)
        elif name == "data_quality":
            collector = DataQualityCollector.for_agent(link)
        elif name == "backup":
            collector = BackupCollector(settings.ledger.path, settings.backup)
        elif name == "releases":
            collector = ReleasesCollector.for_agent(link, settings.releases, cache)
        else:
            collector = KeeperCollector()
        built.append((collector, collector_interval(settings, name)))
    return built
