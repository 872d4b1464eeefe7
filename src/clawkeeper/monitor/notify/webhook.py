"""An Alertmanager-compatible webhook: POSTs the version 4 payload, optionally with a bearer token.

Anything that consumes Alertmanager webhooks (alertmanager-webhook receivers, n8n, Grafana OnCall,
custom bots) works unchanged. The token comes from a private file and appears nowhere else: not in
the notifier's repr, not in a delivery error (a receiver that echoes the request is redacted).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from clawkeeper.effects import http
from clawkeeper.monitor.notify.base import DeliveryResult, Notification, delivered
from clawkeeper.monitor.notify.render import webhook_payload
from clawkeeper.monitor.notify.secretfile import Secret

_BODY_EXCERPT = 120


def describe_url(url: str) -> str:
    """`scheme://host:port` only: paths and queries of webhook URLs often carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class WebhookNotifier:
    def __init__(
        self,
        url: str,
        *,
        name: str,
        token: Secret | None = None,
        timeout_s: float = 10.0,
        max_alerts: int = 0,
    ) -> None:
        self._url = url
        self._name = name
        self._token = token
        self._timeout = timeout_s
        self._max_alerts = max_alerts

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        auth = f", token={self._token!r}" if self._token else ""
        return f"WebhookNotifier({self._name!r}, {describe_url(self._url)}{auth})"

    def send(self, notification: Notification) -> DeliveryResult:
        payload = webhook_payload(notification, receiver=self._name, max_alerts=self._max_alerts)
        headers = {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else {}
        answer = http.post_json(self._url, payload, timeout=self._timeout, headers=headers)
        where = describe_url(self._url)
        if isinstance(answer, http.HttpFailure):
            return delivered(self._name, notification, self._clean(f"{where}: {answer.reason}"))
        if 200 <= answer.status < 300:
            return delivered(self._name, notification)
        excerpt = " ".join(answer.text.split())[:_BODY_EXCERPT]
        detail = f": {excerpt}" if excerpt else ""
        return delivered(
            self._name, notification, self._clean(f"{where} answered HTTP {answer.status}{detail}")
        )

    def _clean(self, message: str) -> str:
        """Remove the token and the full URL from an error that might echo them."""
        if self._token is not None:
            message = self._token.redact(message)
        return message.replace(self._url, describe_url(self._url))
