"""`http`: GET a URL; the result has the status, the latency and the JSON body.

`path` is relative to the target's gateway (`/readyz`); `url` is any absolute URL. "Connection
refused" is a definite answer (nothing listens) and fails the default condition; a request that
runs past its timeout could not be measured and is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator

from clawkeeper.effects import http
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    excerpt,
)


class HttpParams(KindParams):
    path: str | None = Field(default=None, description="path on the gateway, e.g. /readyz")
    url: str | None = Field(default=None, description="an absolute http(s) URL instead of a gateway path")
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> HttpParams:
        if (self.path is None) == (self.url is None):
            raise ValueError("set exactly one of `path` (on the gateway) or `url`")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must start with http:// or https://")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("`path` must start with /")
        return self


@dataclass(frozen=True)
class HttpProbe:
    params: HttpParams

    @property
    def requires(self) -> frozenset[Requirement]:
        return frozenset({Requirement.GATEWAY}) if self.params.path is not None else frozenset()

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        url = self.params.url or env.url(self.params.path or "/")
        answer = http.get(url, timeout=timeout_s, headers=self.params.headers or None)
        if isinstance(answer, http.HttpFailure):
            if answer.reason.startswith("timed out"):
                raise MeasurementError(f"GET {url} {answer.reason}")
            return Measurement(
                result={
                    "status": None,
                    "ok": False,
                    "latency_ms": None,
                    "json": None,
                    "body": None,
                    "error": answer.reason,
                },
                evidence=f"GET {url}: no answer ({excerpt(answer.reason, 120)})",
                problem=f"nothing answered at {url}: {excerpt(answer.reason, 120)}",
            )
        latency_ms = round(answer.elapsed_s * 1000, 1)
        body = answer.json_or_none()
        problem = None if 200 <= answer.status < 300 else f"GET {url} answered HTTP {answer.status}"
        if problem and isinstance(body, dict) and isinstance(body.get("failing"), list) and body["failing"]:
            problem += f" (failing: {', '.join(str(f) for f in body['failing'])})"
        return Measurement(
            result={
                "status": answer.status,
                "ok": 200 <= answer.status < 300,
                "latency_ms": latency_ms,
                "json": body,
                "body": answer.text[:2000],
                "error": None,
            },
            evidence=f"GET {url} → {answer.status} in {latency_ms:g} ms",
            problem=problem,
        )


KIND = KindInfo(
    name="http",
    summary="GET a gateway path or URL: status, JSON body, latency",
    params=HttpParams,
    build=HttpProbe,
    default_success="result.status == 200",
)
