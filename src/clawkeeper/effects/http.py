"""HTTP requests: one client configuration, explicit timeouts, errors as values or typed errors."""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

USER_AGENT = "clawkeeper"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trust store (and SSL_CERT_FILE/SSL_CERT_DIR), not only certifi's bundle.

    `trust_env=False` keeps proxies and .netrc out of our requests, but it also makes httpx ignore
    SSL_CERT_FILE; hosts behind a TLS-inspecting proxy trust its CA only through the system store.
    """
    return ssl.create_default_context()


@dataclass(frozen=True)
class HttpResponse:
    url: str
    status: int
    text: str
    elapsed_s: float
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.text)

    def json_or_none(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


@dataclass(frozen=True)
class HttpFailure:
    """A request that got no HTTP answer (refused, timed out, DNS failure)."""

    url: str
    reason: str
    elapsed_s: float


def get(
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse | HttpFailure:
    """GET `url`. Transport problems come back as HttpFailure, never as an exception."""
    return _send("GET", url, timeout=timeout, headers=headers)


def post_json(
    url: str,
    payload: Any,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse | HttpFailure:
    """POST `payload` as JSON to `url`. Transport problems come back as HttpFailure, never raised.

    Headers (which may carry a bearer token) are never part of a returned reason.
    """
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    merged = {"Content-Type": "application/json", **(headers or {})}
    return _send("POST", url, timeout=timeout, headers=merged, content=body)


def _send(
    method: str,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None,
    content: bytes | None = None,
) -> HttpResponse | HttpFailure:
    started = time.monotonic()
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        with httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls_context()
        ) as client:
            response = client.request(method, url, headers=merged, content=content)
    except httpx.TimeoutException:
        return HttpFailure(url, f"timed out after {timeout:g}s", time.monotonic() - started)
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        return HttpFailure(url, reason, time.monotonic() - started)
    return HttpResponse(
        url=url,
        status=response.status_code,
        text=response.text,
        elapsed_s=time.monotonic() - started,
        headers=dict(response.headers),
    )
