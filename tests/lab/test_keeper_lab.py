"""`clawkeeper up` against a real OpenClaw: the gateway stops, GatewayNotReady goes pending, fires,
reaches a webhook on loopback, survives a keeper restart without a second notice, and resolves when
the gateway is back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.lab.conftest import REPO, LabPool, pick_port
from tests.support.receiver import Receiver, receiver

pytestmark = pytest.mark.lab

VERSION = "2026.9.6"
READY = "clawkeeper_gateway_ready"


def _config(tmp: Path, webhook: str, exporter_port: int) -> Path:
    config = tmp / "clawkeeper.toml"
    config.write_text(
        f"""
[lab]
root = "{REPO / ".lab"}"

[ledger]
path = "{tmp / "ledger.sqlite"}"

[monitor]
interval = "1s"

[monitor.store]
path = "{tmp / "monitor.sqlite"}"

[monitor.collectors]
gateway_rpc = {{ enabled = false }}
releases = {{ enabled = false }}

[monitor.rules.overrides]
GatewayNotReady = {{ for = "4s", keep_firing_for = "0s" }}
BackupRpoMissed = {{ enabled = false }}

[monitor.notify]
group_wait = "0s"
group_interval = "1s"
repeat_interval = "1h"

[[monitor.notify.webhooks]]
url = "{webhook}/hook"

[monitor.exporter]
port = {exporter_port}
""".lstrip()
    )
    return config


class Keeper:
    def __init__(self, config: Path, instance: str, log: Path) -> None:
        self.config, self.instance, self.log = config, instance, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "clawkeeper",
            "--config",
            str(self.config),
            "up",
            "--no-live-view",
            "--no-schedule",
            "--target",
            f"lab:{self.instance}",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(argv, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=env)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _wait(what: str, check: Callable[[], Any], keeper: Keeper, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert keeper.alive(), f"the keeper died while waiting for {what}:\n{keeper.log.read_text()[-3000:]}"
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{keeper.log.read_text()[-3000:]}")


def _metrics(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def _state_is(port: int, state: str | None) -> Callable[[], bool]:
    return lambda: _alert_state(port, "GatewayNotReady") == state


def _alert_state(port: int, name: str) -> str | None:
    for labels, value in _metrics(port).get("ALERTS", []):
        if labels.get("alertname") == name and value == 1:
            return labels.get("alertstate")
    return None


def _gauge(port: int, name: str) -> float | None:
    values = _metrics(port).get(name)
    return values[0][1] if values else None


def _notices(hook: Receiver, alert: str) -> list[str]:
    with hook.lock:
        bodies = [r.json() for r in hook.requests]
    return [b["status"] for b in bodies if any(a["labels"].get("alertname") == alert for a in b["alerts"])]


PROMETHEUS = Path("/usr/bin/prometheus")


def _start_prometheus(tmp: Path, config: Path, exporter_port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The Debian Prometheus scraping the keeper every second, with the keeper's generated rules."""
    assert PROMETHEUS.exists(), "install the Debian package prometheus (./dev/test does)"
    rules = tmp / "rules.yml"
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "clawkeeper",
            "--config",
            str(config),
            "alerts",
            "rules",
            "--prometheus",
            str(rules),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    port = pick_port(19570)
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {
                        "job_name": "clawkeeper",
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                    }
                ],
            }
        )
    )
    proc = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "prometheus.log").open("wb"),
    )
    return proc, f"http://127.0.0.1:{port}"


def _prom_query(base: str, promql: str) -> list[dict[str, Any]]:
    try:
        answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return []
    return list(answer.get("data", {}).get("result", []))


@pytest.fixture
def keeper_lab(lab_pool: LabPool) -> Iterator[Any]:
    with lab_pool.private(VERSION, "keeper", preferred_port=18975) as sandbox:
        yield sandbox


def test_gateway_outage_goes_pending_fires_notifies_survives_restart_and_resolves(
    keeper_lab: Any, tmp_path: Path
) -> None:
    sandbox = keeper_lab
    port = pick_port(19470)
    with receiver() as hook, contextlib.ExitStack() as stack:
        config = _config(tmp_path, hook.url, port)
        keeper = Keeper(config, sandbox.name, tmp_path / "keeper.log")
        keeper.start()
        try:
            # the keeper measures the real gateway: live, ready, its process
            _wait("gateway_ready 1 on /metrics", lambda: _gauge(port, READY) == 1, keeper, 90)
            assert (_gauge(port, "clawkeeper_gateway_process_rss_bytes") or 0) > 10 * 2**20
            assert _alert_state(port, "GatewayNotReady") is None
            # a real Prometheus scrapes the keeper and evaluates the keeper's generated rules
            prometheus, prom = _start_prometheus(tmp_path, config, port)
            stack.callback(prometheus.wait, 30)
            stack.callback(prometheus.terminate)
            _wait(
                "Prometheus scraping gateway_ready 1",
                lambda: [r["value"][1] for r in _prom_query(prom, READY)] == ["1"],
                keeper,
                60,
            )

            sandbox.down()
            _wait("GatewayNotReady pending", _state_is(port, "pending"), keeper, 30)
            assert _notices(hook, "GatewayNotReady") == []  # pending is not notified
            _wait("GatewayNotReady firing", _state_is(port, "firing"), keeper, 30)
            _wait("a firing notice", lambda: _notices(hook, "GatewayNotReady") == ["firing"], keeper, 30)
            # Prometheus, on the same samples with the generated rule, agrees
            _wait(
                "Prometheus's own GatewayNotReady firing",
                lambda: _prom_query(prom, 'ALERTS{alertname="GatewayNotReady",alertstate="firing"}'),
                keeper,
                60,
            )
            body = next(r.json() for r in hook.requests)
            assert body["version"] == "4" and body["status"] == "firing"
            assert body["alerts"][0]["labels"]["severity"] == "critical"

            # a restart of the keeper keeps the alert firing and does not notify again
            assert keeper.stop() == 0
            keeper.start()
            _wait("GatewayNotReady firing after restart", _state_is(port, "firing"), keeper, 60)
            time.sleep(5)  # several evaluations and group intervals
            assert _notices(hook, "GatewayNotReady") == ["firing"]

            sandbox.up()
            _wait("GatewayNotReady resolved", _state_is(port, None), keeper, 120)
            _wait(
                "a resolved notice",
                lambda: _notices(hook, "GatewayNotReady") == ["firing", "resolved"],
                keeper,
                30,
            )
        finally:
            code = keeper.stop() if keeper.alive() else None
        assert code == 0, keeper.log.read_text()[-3000:]
        assert "state saved" in keeper.log.read_text()

    history = subprocess.run(
        [sys.executable, "-m", "clawkeeper", "--config", str(config), "alerts", "history", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert history.returncode == 0, history.stderr
    assert "GatewayNotReady" in history.stdout
    sent = subprocess.run(
        [sys.executable, "-m", "clawkeeper", "--config", str(config), "alerts", "deliveries", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    delivered = [(d["status"], d["ok"]) for d in json.loads(sent.stdout)["deliveries"]]
    assert delivered == [("resolved", True), ("firing", True)]  # newest first
