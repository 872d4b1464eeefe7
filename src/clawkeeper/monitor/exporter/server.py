"""The exporter's HTTP server: `/metrics`, `/healthz` and a tiny index, on a daemon thread.

Loopback by default (`monitor.exporter.bind = "127.0.0.1"`, port 9469); port 0 picks a free port
(read it back from `Exporter.port`). `/metrics` speaks the Prometheus text format, or OpenMetrics
when the scraper asks for it. `/healthz` answers 200 while the keeper's loop turns and 503 when its
last tick is older than three intervals, so systemd, Docker or an uptime checker can watch the
watcher. With `auth` set, every path needs the secret.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from clawkeeper.errors import ConfigError, ResourceConflict
from clawkeeper.monitor.exporter.auth import AuthPolicy
from clawkeeper.monitor.exporter.collector import (
    AlertsSource,
    HealthSource,
    KeeperCollector,
    health_report,
)
from clawkeeper.monitor.model import MetricInfo, MetricReader
from clawkeeper.monitor.settings import ExporterSettings

INDEX = """<!doctype html>
<html><head><title>clawkeeper exporter</title></head>
<body><h1>clawkeeper</h1>
<p><a href="/metrics">/metrics</a> (Prometheus) &middot; <a href="/healthz">/healthz</a> (keeper health)</p>
</body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    exporter: Exporter

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is not worth a traceback on the keeper's stderr."""


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "clawkeeper-exporter"
    sys_version = ""

    def do_GET(self) -> None:
        exporter = self.server.exporter
        if not exporter.auth.allows(self.headers.get("Authorization")):
            self._reply(
                HTTPStatus.UNAUTHORIZED,
                b"unauthorized\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": exporter.auth.challenge},
            )
            return
        try:
            self._route(exporter, self.path.split("?", 1)[0])
        except Exception as exc:  # noqa: BLE001 - one bad scrape answers 500, the server lives on
            self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"error: {type(exc).__name__}\n".encode(),
                "text/plain; charset=utf-8",
            )

    def _route(self, exporter: Exporter, path: str) -> None:
        if path == "/metrics":
            body, content_type = exporter.exposition(self.headers.get("Accept", ""))
            self._reply(HTTPStatus.OK, body, content_type)
        elif path == "/healthz":
            status, report = exporter.health()
            self._reply(status, (json.dumps(report) + "\n").encode(), "application/json")
        elif path == "/":
            self._reply(HTTPStatus.OK, INDEX.encode(), "text/html; charset=utf-8")
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _reply(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged (the core never prints)."""


class Exporter:
    """`/metrics` for Prometheus. Construct (validates settings), `start()`, `stop()`.

    `alerts` and `health` are callables the keeper passes in (e.g. `keeper.current_alerts` and
    `keeper.snapshot`); they are called on the server's threads, once per request.
    """

    def __init__(
        self,
        settings: ExporterSettings,
        *,
        reader: MetricReader | None = None,
        alerts: AlertsSource | None = None,
        health: HealthSource | None = None,
        metric_info: Iterable[MetricInfo] = (),
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
    ) -> None:
        self.settings = settings
        self.auth = AuthPolicy.from_settings(settings)  # refuses unsafe settings before any bind
        self._health = health
        self.collector = KeeperCollector(
            reader, alerts=alerts, health=health, metric_info=metric_info, max_age_s=max_age_s, clock=clock
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        if process_metrics:  # process_cpu_seconds_total, process_resident_memory_bytes, … of the keeper
            ProcessCollector(registry=self.registry)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- content --------------------------------------------------------------------------------

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def health(self) -> tuple[int, dict[str, object]]:
        snapshot = self._health() if self._health is not None else None
        report = health_report(snapshot, store_read_ok=self.collector.store_read_ok)
        status = HTTPStatus.OK if report.healthy else HTTPStatus.SERVICE_UNAVAILABLE
        return int(status), report.to_json()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve on a daemon thread. Port in use → ResourceConflict; bad bind → ConfigError."""
        if self._server is not None:
            return
        bind, port = self.settings.bind, self.settings.port
        server_class = _Server6 if ":" in bind else _Server
        try:
            server = server_class((bind.strip("[]"), port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ResourceConflict(
                    f"monitor.exporter.port {port} on {bind} is already in use",
                    hint="stop the other program, or choose another monitor.exporter.port (0: any free port)",
                ) from None
            raise ConfigError(
                f"monitor.exporter.bind = {bind!r} cannot be used: {exc.strerror or exc}",
                hint='use an address of this machine, e.g. "127.0.0.1"',
            ) from None
        server.exporter = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="exporter", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving and close the socket (idempotent); in-flight scrapes finish on their own."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port while running (the real one when configured as 0), else the configured one."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self.settings.port

    @property
    def url(self) -> str:
        host = self.settings.bind.strip("[]")
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}/"

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
