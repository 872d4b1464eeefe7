"""Prometheus export: `/metrics` (store series, ALERTS, keeper health) and `/healthz`.

exporter = Exporter(settings.monitor.exporter, reader=store_reader,
                    alerts=keeper.current_alerts, health=keeper.snapshot,
                    metric_info=[m for c in collectors for m in c.metrics])
exporter.start()          # ConfigError / ResourceConflict with one clear line
exporter.port             # the bound port (useful with port = 0)
exporter.stop()
"""

from clawkeeper.monitor.exporter.auth import AuthPolicy, is_loopback
from clawkeeper.monitor.exporter.collector import HealthReport, KeeperCollector, KeeperHealth, health_report
from clawkeeper.monitor.exporter.server import Exporter

__all__ = [
    "AuthPolicy",
    "Exporter",
    "HealthReport",
    "KeeperCollector",
    "KeeperHealth",
    "health_report",
    "is_loopback",
]
