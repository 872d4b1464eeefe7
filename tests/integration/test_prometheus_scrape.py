"""A real Prometheus (the Debian package) scrapes the keeper's /metrics.

Proves what users of an existing Prometheus rely on: the exposition parses, counters and gauges
arrive under their names, ALERTS/ALERTS_FOR_STATE arrive, bearer auth works with Prometheus'
`authorization.credentials_file`, and a series the keeper stops exporting (stale collector)
vanishes from Prometheus instead of freezing at its last value.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from clawkeeper.effects import http, proc
from clawkeeper.monitor.exporter import Exporter
from clawkeeper.monitor.model import Alert, AlertState, Point, Series, labels_of
from clawkeeper.monitor.settings import ExporterSettings
from tests.unit.monitor.exporter.fakes import FakeHealth, FakeReader

PROMETHEUS = Path("/usr/bin/prometheus")
WAIT_S = 30.0
TOKEN = "scrape-token-for-prometheus"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def firing_alert() -> Alert:
    return Alert(
        name="GatewayNotReady",
        labels=labels_of(alertname="GatewayNotReady", severity="critical"),
        annotations=(("summary", "gateway not ready"),),
        state=AlertState.FIRING,
        value=0.0,
        active_since=time.time() - 180,
        fired_at=time.time() - 60,
    )


class LiveReader(FakeReader):
    """Every read returns points stamped 'now', as a running keeper's store would."""

    def latest(self, name: str, matchers: Any = (), *, at: float | None = None) -> list[Series]:
        now = time.time()
        return [replace(s, points=(Point(now, s.points[-1].value),)) for s in self.series.get(name, [])]


@pytest.fixture
def prometheus_binary() -> Path:
    if not PROMETHEUS.exists():
        pytest.fail(
            "/usr/bin/prometheus is missing: install the Debian package prometheus (apt install prometheus)"
        )
    return PROMETHEUS


@pytest.fixture
def reader() -> LiveReader:
    store = LiveReader()
    store.add("host_cpu_percent", 42.5)
    store.add("gateway_ready", 1.0)
    store.add("gateway_process_restarts_total", 2.0)
    return store


@pytest.fixture
def exporters(reader: LiveReader, tmp_path: Path) -> Iterator[tuple[Exporter, Exporter]]:
    token_file = tmp_path / "exporter.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    plain = Exporter(
        ExporterSettings(port=0), reader=reader, alerts=lambda: [firing_alert()], health=FakeHealth
    )
    guarded = Exporter(ExporterSettings(port=0, auth="bearer", token_file=token_file), reader=reader)
    plain.start()
    guarded.start()
    try:
        yield plain, guarded
    finally:
        plain.stop()
        guarded.stop()


@pytest.fixture
def prometheus(
    prometheus_binary: Path, exporters: tuple[Exporter, Exporter], tmp_path: Path
) -> Iterator[str]:
    plain, guarded = exporters
    token_file = tmp_path / "prometheus.token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "clawkeeper", "static_configs": [{"targets": [f"127.0.0.1:{plain.port}"]}]},
            {
                "job_name": "clawkeeper-bearer",
                "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                "static_configs": [{"targets": [f"127.0.0.1:{guarded.port}"]}],
            },
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = tmp_path / "prometheus.log"
    process = proc.spawn(
        [
            str(prometheus_binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path=log,
        cwd=tmp_path,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop(process)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = http.get(f"{base}/api/v1/query?query={quote(promql)}", timeout=5)
    if not isinstance(answer, http.HttpResponse) or answer.status != 200:
        return []
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def eventually(check: Callable[[], Any], what: str, log: Path) -> Any:
    """Poll `check` until it returns something truthy, at most WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        outcome = check()
        if outcome:
            return outcome
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    pytest.fail(f"{what} not seen within {WAIT_S:g}s; prometheus log:\n{tail}")


def test_prometheus_scrapes_metrics_alerts_and_sees_stale_series_vanish(
    prometheus: str, reader: LiveReader, tmp_path: Path
) -> None:
    log = tmp_path / "prometheus.log"

    cpu = eventually(lambda: query(prometheus, 'clawkeeper_host_cpu_percent{job="clawkeeper"}'), "cpu", log)
    assert float(cpu[0]["value"][1]) == 42.5

    def targets_up() -> dict[str, str] | None:
        ups = {r["metric"]["job"]: r["value"][1] for r in query(prometheus, "up")}
        return ups if len(ups) == 2 and set(ups.values()) == {"1"} else None

    assert eventually(targets_up, "both targets up (plain and bearer)", log) == {
        "clawkeeper": "1",
        "clawkeeper-bearer": "1",
    }

    restarts = query(prometheus, 'clawkeeper_gateway_process_restarts_total{job="clawkeeper"}')
    assert float(restarts[0]["value"][1]) == 2.0
    metadata = http.get(f"{prometheus}/api/v1/metadata?metric=clawkeeper_gateway_process_restarts", timeout=5)
    assert isinstance(metadata, http.HttpResponse)
    assert metadata.json()["data"]["clawkeeper_gateway_process_restarts"][0]["type"] == "counter"

    alerts = eventually(lambda: query(prometheus, 'ALERTS{job="clawkeeper"}'), "ALERTS", log)
    assert alerts[0]["metric"]["alertname"] == "GatewayNotReady"
    assert alerts[0]["metric"]["alertstate"] == "firing"
    assert query(prometheus, 'ALERTS_FOR_STATE{alertname="GatewayNotReady"}')

    # the gateway collector fails: its series is stale in the store and must vanish from Prometheus
    reader.series["gateway_ready"] = [
        Series("gateway_ready", (), reader.series["gateway_ready"][0].points, stale=True)
    ]
    eventually(
        lambda: not query(prometheus, 'clawkeeper_gateway_ready{job="clawkeeper"}'),
        "gateway_ready vanishing",
        log,
    )
    assert query(prometheus, 'clawkeeper_host_cpu_percent{job="clawkeeper"}'), "the other series stay"
