"""The Alertmanager webhook: payload version 4 over real loopback HTTP, bearer token handling."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.db import connect
from clawkeeper.monitor.model import AlertState
from clawkeeper.monitor.notify import Dispatcher, build_notifiers, delivery_history
from clawkeeper.monitor.notify.base import AlertNotice, NoticeStatus, Notification
from clawkeeper.monitor.notify.grouping import labels_fingerprint
from clawkeeper.monitor.notify.render import webhook_payload
from clawkeeper.monitor.settings import NotifySettings, WebhookTarget
from tests.support.receiver import receiver

from .conftest import T0, alert

TOKEN = "s3cr3t-bearer-token-value"


def notice(instance: str, status: NoticeStatus = NoticeStatus.FIRING) -> AlertNotice:
    labels = (("alertname", "GatewayNotReady"), ("instance", instance), ("severity", "critical"))
    return AlertNotice(
        fingerprint=labels_fingerprint(labels),
        name="GatewayNotReady",
        status=status,
        labels=labels,
        annotations=(("summary", "gateway not ready"), ("runbook", instance)),
        starts_at=T0,
        ends_at=T0 + 90 if status is NoticeStatus.RESOLVED else None,
        value=0.0,
    )


def notification(*alerts: AlertNotice) -> Notification:
    return Notification(
        group_key='{}:{alertname="GatewayNotReady"}',
        group_labels=(("alertname", "GatewayNotReady"),),
        alerts=alerts,
        now=T0 + 120,
        external_url="http://127.0.0.1:9469/",
    )


def token_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "hook.token"
    path.write_text(TOKEN + "\n")
    path.chmod(mode)
    return path


def test_payload_has_the_alertmanager_v4_shape() -> None:
    payload = webhook_payload(
        notification(notice("a"), notice("b", NoticeStatus.RESOLVED)), receiver="webhook:ops"
    )

    assert set(payload) == {
        "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
        "commonLabels", "commonAnnotations", "externalURL", "alerts",
    }  # fmt: skip
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "webhook:ops"
    assert payload["groupLabels"] == {"alertname": "GatewayNotReady"}
    assert payload["commonLabels"] == {"alertname": "GatewayNotReady", "severity": "critical"}
    assert payload["commonAnnotations"] == {"summary": "gateway not ready"}
    assert payload["truncatedAlerts"] == 0
    firing, resolved = payload["alerts"]
    assert set(firing) == {
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    }  # fmt: skip
    assert firing["status"] == "firing"
    assert firing["startsAt"] == "2023-11-14T22:13:20Z"
    assert firing["endsAt"] == "0001-01-01T00:00:00Z"
    assert len(firing["fingerprint"]) == 16
    assert resolved["status"] == "resolved"
    assert resolved["endsAt"] == "2023-11-14T22:14:50Z"


def test_payload_truncates_to_max_alerts_and_counts_the_rest() -> None:
    payload = webhook_payload(notification(notice("a"), notice("b"), notice("c")), receiver="r", max_alerts=2)

    assert len(payload["alerts"]) == 2
    assert payload["truncatedAlerts"] == 1


def test_payload_status_is_resolved_when_nothing_fires() -> None:
    payload = webhook_payload(notification(notice("a", NoticeStatus.RESOLVED)), receiver="r")
    assert payload["status"] == "resolved"


def test_webhook_posts_the_payload_with_the_bearer_token(tmp_path: Path) -> None:
    with receiver() as hook:
        settings = NotifySettings(
            webhooks=[WebhookTarget(url=hook.url + "/alerts", bearer_token_file=token_file(tmp_path))]
        )
        (notifier,) = build_notifiers(settings)

        result = notifier.send(notification(notice("a")))

    assert result.ok, result.error
    (request,) = hook.requests
    assert request.path == "/alerts"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["version"] == "4"
    assert body["receiver"] == notifier.name == f"webhook:127.0.0.1:{hook.url.rsplit(':', 1)[1]}"
    assert body["alerts"][0]["labels"]["instance"] == "a"


def test_the_token_never_appears_in_errors_reprs_history_or_logs(
    tmp_path: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with receiver(status=403) as hook:
        hook.echo_authorization = True  # the receiver answers with the header it got
        settings = NotifySettings(
            webhooks=[
                WebhookTarget(url=hook.url + "/hook?key=url-secret", bearer_token_file=token_file(tmp_path))
            ],
            group_wait=0,
        )
        notifiers = build_notifiers(settings)
        conn = connect(db_path)
        results = Dispatcher(notifiers, settings, conn).tick([alert()], T0)

    (result,) = results
    assert not result.ok
    assert result.error is not None and "HTTP 403" in result.error
    history = delivery_history(conn)
    conn.close()
    texts = [result.error, repr(notifiers[0]), repr(result), *(repr(h) for h in history)]
    assert all(TOKEN not in text and "url-secret" not in text for text in texts)
    assert TOKEN not in caplog.text
    for stored in db_path.parent.glob(db_path.name + "*"):  # the database and its WAL
        assert TOKEN.encode() not in stored.read_bytes()


def test_a_refused_connection_is_a_failed_delivery_not_an_exception() -> None:
    with receiver() as hook:
        url = hook.url
    (notifier,) = build_notifiers(NotifySettings(webhooks=[WebhookTarget(url=url, timeout=2)]))

    result = notifier.send(notification(notice("a")))

    assert not result.ok
    assert result.error is not None and result.error.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_token_file_others_can_read_is_refused_at_startup(tmp_path: Path, mode: int) -> None:
    path = token_file(tmp_path, mode)
    settings = NotifySettings(webhooks=[WebhookTarget(url="http://127.0.0.1:9/", bearer_token_file=path)])

    with pytest.raises(ConfigError) as caught:
        build_notifiers(settings)

    line = caught.value.one_line()
    assert "monitor.notify.webhooks[0].bearer_token_file" in line
    assert f"chmod 600 {path}" in line
    assert TOKEN not in line


def test_a_missing_token_file_is_one_clear_line(tmp_path: Path) -> None:
    settings = NotifySettings(
        webhooks=[WebhookTarget(url="http://127.0.0.1:9/", bearer_token_file=tmp_path / "nope")]
    )
    with pytest.raises(ConfigError, match="does not exist"):
        build_notifiers(settings)


def test_a_webhook_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"webhooks\[0\]\.url must be an http"):
        build_notifiers(NotifySettings(webhooks=[WebhookTarget(url="ftp://example.org/")]))


def test_two_webhooks_on_one_host_get_distinct_names() -> None:
    settings = NotifySettings(
        webhooks=[WebhookTarget(url="http://127.0.0.1:9000/a"), WebhookTarget(url="http://127.0.0.1:9000/b")]
    )
    assert [n.name for n in build_notifiers(settings)] == [
        "webhook:127.0.0.1:9000",
        "webhook:127.0.0.1:9000#2",
    ]


def test_via_agent_without_an_agent_notifier_is_refused() -> None:
    with pytest.raises(ConfigError, match="via_agent"):
        build_notifiers(NotifySettings(via_agent=True))


def test_the_dispatcher_delivers_firing_then_resolved_over_http(db_path: Path) -> None:
    with receiver() as hook:
        settings = NotifySettings(webhooks=[WebhookTarget(url=hook.url)], group_wait=0, group_interval=60)
        conn = connect(db_path)
        dispatcher = Dispatcher(build_notifiers(settings), settings, conn)
        dispatcher.tick([alert()], T0)
        dispatcher.tick([alert(state=AlertState.RESOLVED, resolved_at=T0 + 30)], T0 + 30)
        dispatcher.tick([], T0 + 60)
        conn.close()

    statuses = [r.json()["status"] for r in hook.requests]
    assert statuses == ["firing", "resolved"]
