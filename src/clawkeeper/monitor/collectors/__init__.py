"""The keeper's collectors: one source of metrics each, behind `monitor.model.Collector`.

`build_collectors(settings, target, adapter)` returns the enabled ones with their intervals; the
metric names they produce are listed in docs/monitoring.md ("Collectors").
"""

from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.agent_log import AgentLogCollector
from clawkeeper.monitor.collectors.backup import BackupCollector
from clawkeeper.monitor.collectors.base import CollectorError
from clawkeeper.monitor.collectors.data_quality import DataQualityCollector
from clawkeeper.monitor.collectors.gateway import GatewayCollector
from clawkeeper.monitor.collectors.gateway_rpc import GatewayRpcCollector
from clawkeeper.monitor.collectors.host import HostCollector
from clawkeeper.monitor.collectors.keeper import KeeperCollector
from clawkeeper.monitor.collectors.process import ProcessCollector
from clawkeeper.monitor.collectors.registry import COLLECTOR_NAMES, build_collectors, collector_interval
from clawkeeper.monitor.collectors.releases import ReleasesCollector
from clawkeeper.monitor.collectors.tailer import JsonlTailer, TailPaths, TailResult
from clawkeeper.monitor.collectors.transcripts import TranscriptReader

__all__ = [
    "COLLECTOR_NAMES",
    "AgentLink",
    "AgentLogCollector",
    "BackupCollector",
    "CollectorError",
    "DataQualityCollector",
    "GatewayCollector",
    "GatewayRpcCollector",
    "HostCollector",
    "JsonlTailer",
    "KeeperCollector",
    "ProcessCollector",
    "ReleasesCollector",
    "TailPaths",
    "TailResult",
    "TranscriptReader",
    "build_collectors",
    "collector_interval",
]
