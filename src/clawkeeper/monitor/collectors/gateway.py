"""`gateway`: the gateway's unauthenticated HTTP probes, every interval — cheap, no CLI spawn.

`/healthz` (live), `/readyz` (ready; local callers also get `failing[]` and `eventLoop`) and
`/startupz` (started; the running version). A gateway that does not answer is data — live=0,
ready=0 — not a collector failure; the collector fails (metrics stale) only when it cannot tell
where the gateway is (no agent found, unreadable openclaw.json) or when the gateway answers in a
shape clawkeeper does not understand. Latency is the time to an HTTP answer, whatever its status.

A generic (non-OpenClaw) agent is probed through its adapter's `health_url` / `ready_url`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from clawkeeper.agent.adapter import Health
from clawkeeper.agent.openclaw import outputs
from clawkeeper.effects import http
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import gauge, info
from clawkeeper.monitor.collectors.gateway_shapes import parse_event_loop
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

PROBE_TIMEOUT_S = 5.0

METRICS: tuple[MetricInfo, ...] = (
    info("gateway_live", "1 when /healthz answers 200 and says live, else 0."),
    info("gateway_ready", "1 when /readyz answers 200 with ready=true, else 0."),
    info("gateway_started", "1 when /startupz says started (0 while starting or draining)."),
    info(
        "gateway_probe_latency_seconds",
        "Time to the HTTP answer of a probe (only when one came).",
        unit="seconds",
        labels=("probe",),
    ),
    info("gateway_readyz_failing", "Entries in /readyz failing[] (agent databases, plugin reload, ...)."),
    info(
        "gateway_event_loop_delay_p99_seconds",
        "p99 event-loop delay of the gateway's main thread (from /readyz).",
        unit="seconds",
    ),
    info(
        "gateway_event_loop_utilization",
        "Event-loop utilization of the gateway, 0..1 (from /readyz).",
        unit="ratio",
    ),
    info(
        "gateway_version_info",
        "1, labelled with the running gateway's version (from /startupz).",
        labels=("version",),
    ),
)

Getter = Callable[..., "http.HttpResponse | http.HttpFailure"]


class GatewayCollector:
    name = "gateway"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(
        self, link: AgentLink, *, get: Getter = http.get, timeout_s: float = PROBE_TIMEOUT_S
    ) -> None:
        self._link = link
        self._get = get
        self._timeout = timeout_s

    def collect(self, ctx: CollectContext) -> list[Sample]:
        generic = self._link.generic_adapter
        if generic is not None:
            return self._generic(ctx.now, generic.health())
        return self._openclaw(ctx.now, self._link.http_base())

    def _fetch(self, url: str) -> tuple[http.HttpResponse | None, Any]:
        response = self._get(url, timeout=self._timeout)
        if isinstance(response, http.HttpFailure):
            return None, None
        body = response.json_or_none()
        # the Control UI answers unknown paths with HTML: that is no probe document
        return response, body if isinstance(body, dict) else None

    def _openclaw(self, now: float, base: str) -> list[Sample]:
        out: list[Sample] = []
        healthz, healthz_body = self._fetch(f"{base}/healthz")
        live = (
            healthz is not None
            and healthz.status == 200
            and healthz_body is not None
            and outputs.parse_healthz(healthz_body, source=f"GET {base}/healthz")
        )
        out.append(gauge("gateway_live", 1 if live else 0, now))
        if healthz is not None:
            out.append(gauge("gateway_probe_latency_seconds", healthz.elapsed_s, now, probe="healthz"))

        readyz, readyz_body = self._fetch(f"{base}/readyz")
        ready = False
        if readyz is not None:
            out.append(gauge("gateway_probe_latency_seconds", readyz.elapsed_s, now, probe="readyz"))
        if readyz is not None and readyz_body is not None:
            source = f"GET {base}/readyz"
            readiness = outputs.parse_readyz(readyz_body, source=source)
            ready = readiness.ready and readyz.status == 200
            out.append(gauge("gateway_readyz_failing", len(readiness.failing), now))
            loop = parse_event_loop(readyz_body, source=source)
            if loop is not None and loop.delay_p99_s is not None:
                out.append(gauge("gateway_event_loop_delay_p99_seconds", loop.delay_p99_s, now))
            if loop is not None and loop.utilization is not None:
                out.append(gauge("gateway_event_loop_utilization", loop.utilization, now))
        out.append(gauge("gateway_ready", 1 if ready else 0, now))

        startupz, startupz_body = self._fetch(f"{base}/startupz")
        started = False
        if startupz is not None and startupz_body is not None:
            startup = outputs.parse_startupz(startupz_body, source=f"GET {base}/startupz")
            started = startup.started
            if startup.version:
                out.append(gauge("gateway_version_info", 1, now, version=startup.version))
        out.append(gauge("gateway_started", 1 if started else 0, now))
        return out

    def _generic(self, now: float, health: Health) -> list[Sample]:
        out = [
            gauge("gateway_live", 1 if health.live else 0, now),
            gauge("gateway_ready", 1 if health.ready else 0, now),
        ]
        for check, probe in zip(health.checks, ("healthz", "readyz"), strict=False):
            if check.status is not None and check.latency_ms is not None:
                latency = check.latency_ms / 1000.0
                out.append(gauge("gateway_probe_latency_seconds", latency, now, probe=probe))
        if health.running_version:
            out.append(gauge("gateway_version_info", 1, now, version=health.running_version))
        return out
