"""The gateway HTTP collector on recorded /healthz, /readyz and /startupz answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.agent.adapter import EndpointCheck, Health
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.effects import http
from clawkeeper.errors import AgentNotFound, AgentProtocolError
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.gateway import GatewayCollector
from tests.unit.monitor.collectors.helpers import FIXTURES, VERSIONS, ctx, value

BASE = "http://127.0.0.1:18789"


def answer(status: int, text: str, elapsed: float = 0.012) -> http.HttpResponse:
    return http.HttpResponse(url="", status=status, text=text, elapsed_s=elapsed, headers={})


def fake_get(pages: dict[str, http.HttpResponse | http.HttpFailure]) -> Callable[..., Any]:
    def get(url: str, *, timeout: float) -> http.HttpResponse | http.HttpFailure:
        assert timeout > 0
        return pages[url.removeprefix(BASE)]

    return get


def recorded(version: str) -> dict[str, http.HttpResponse | http.HttpFailure]:
    return {
        f"/{probe}": answer(
            200, (FIXTURES / version / f"http-{probe}.up.json").read_text(), elapsed=0.01 * (i + 1)
        )
        for i, probe in enumerate(("healthz", "readyz", "startupz"))
    }


def collector(pages: dict[str, http.HttpResponse | http.HttpFailure]) -> GatewayCollector:
    target = OpenClawTarget(label="live", binary=Path("/nonexistent/openclaw"), http_base=BASE)
    return GatewayCollector(AgentLink(Settings(), target), get=fake_get(pages))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_ready_gateway_reports_live_ready_started_latency_and_version(version: str) -> None:
    samples = collector(recorded(version)).collect(ctx())
    assert value(samples, "gateway_live") == 1
    assert value(samples, "gateway_ready") == 1
    assert value(samples, "gateway_started") == 1
    assert value(samples, "gateway_readyz_failing") == 0
    assert value(samples, "gateway_probe_latency_seconds", probe="healthz") == pytest.approx(0.01)
    assert value(samples, "gateway_probe_latency_seconds", probe="readyz") == pytest.approx(0.02)
    assert value(samples, "gateway_version_info", version=version) == 1


def test_the_event_loop_comes_from_the_detailed_readyz() -> None:
    samples = collector(recorded("2026.9.6")).collect(ctx())
    assert value(samples, "gateway_event_loop_delay_p99_seconds") == pytest.approx(0.5552)  # delayP99Ms 555.2
    assert value(samples, "gateway_event_loop_utilization") == pytest.approx(0.919)


def test_a_down_gateway_is_data_not_a_failure() -> None:
    down = http.HttpFailure(url="", reason="connection refused", elapsed_s=0.001)
    samples = collector({"/healthz": down, "/readyz": down, "/startupz": down}).collect(ctx())
    assert value(samples, "gateway_live") == 0
    assert value(samples, "gateway_ready") == 0
    assert value(samples, "gateway_started") == 0
    assert not [s for s in samples if s.name == "gateway_probe_latency_seconds"]


def test_a_gateway_starting_up_is_live_but_not_ready() -> None:
    pages = recorded("2026.9.6")
    pages["/readyz"] = answer(503, '{"ready": false, "failing": ["agent-database:main", "plugin-reload"]}')
    pages["/startupz"] = answer(503, (FIXTURES / "2026.9.6" / "http-startupz.pending.json").read_text())
    samples = collector(pages).collect(ctx())
    assert value(samples, "gateway_live") == 1
    assert value(samples, "gateway_ready") == 0
    assert value(samples, "gateway_readyz_failing") == 2
    assert value(samples, "gateway_started") == 0
    assert value(samples, "gateway_version_info", version="2026.9.6") == 1


def test_an_html_page_is_not_a_health_answer() -> None:
    pages = recorded("2026.9.6")
    pages["/healthz"] = answer(200, "<!doctype html><title>Control UI</title>")
    assert value(collector(pages).collect(ctx()), "gateway_live") == 0


def test_an_answer_in_an_unknown_shape_fails_the_collector() -> None:
    pages = recorded("2026.9.6")
    pages["/readyz"] = answer(200, '{"status": "fine"}')
    with pytest.raises(AgentProtocolError, match="ready"):
        collector(pages).collect(ctx())


def test_the_port_comes_from_openclaw_json_when_the_target_has_no_url(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    (state / "openclaw.json").write_text("{ gateway: { port: 18999, bind: 'loopback' } }")
    asked: list[str] = []

    def get(url: str, *, timeout: float) -> http.HttpFailure:
        asked.append(url)
        return http.HttpFailure(url=url, reason="refused", elapsed_s=0.0)

    target = OpenClawTarget(label="live", binary=tmp_path / "openclaw", state_dir=state)
    GatewayCollector(AgentLink(Settings(), target), get=get).collect(ctx())
    assert asked[0] == "http://127.0.0.1:18999/healthz"


def test_no_agent_found_fails_the_collector_so_its_metrics_go_stale() -> None:
    def nothing(_settings: Settings) -> OpenClawTarget:
        raise AgentNotFound("no OpenClaw installation found")

    gateway = GatewayCollector(AgentLink(Settings(), None, resolver=nothing), get=fake_get({}))
    with pytest.raises(AgentNotFound):
        gateway.collect(ctx())


class _GenericAdapter:
    name = "myagent"

    def health(self) -> Health:
        return Health(
            live=True,
            ready=False,
            checks=(
                EndpointCheck(url="http://a/health", status=200, ok=True, latency_ms=4.0),
                EndpointCheck(url="http://a/ready", status=503, ok=False, latency_ms=6.0),
            ),
        )


def test_a_generic_agent_is_probed_through_its_adapter() -> None:
    settings = Settings.model_validate({"agent": {"kind": "generic"}})
    gateway = GatewayCollector(AgentLink(settings, None, _GenericAdapter()), get=fake_get({}))  # type: ignore[arg-type]
    samples = gateway.collect(ctx())
    assert value(samples, "gateway_live") == 1
    assert value(samples, "gateway_ready") == 0
    assert value(samples, "gateway_probe_latency_seconds", probe="readyz") == pytest.approx(0.006)
