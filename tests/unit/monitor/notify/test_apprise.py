"""Apprise notifications, posted for real by apprise's json:// plugin to a loopback receiver."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.db import connect
from clawkeeper.monitor.model import AlertState
from clawkeeper.monitor.notify import Dispatcher, build_notifiers
from clawkeeper.monitor.notify.base import AlertNotice, NoticeStatus, Notification
from clawkeeper.monitor.settings import NotifySettings
from tests.support.receiver import receiver

from .conftest import T0, alert


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """apprise posts through `requests`, which would send loopback traffic to a configured proxy."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def firing_notification() -> Notification:
    labels = (("alertname", "GatewayDown"), ("severity", "critical"))
    down = AlertNotice("0123456789abcdef", "GatewayDown", NoticeStatus.FIRING, labels, (), starts_at=T0)
    return Notification('{}:{alertname="GatewayDown"}', labels[:1], (down,), T0 + 5)


def json_url(base: str, path: str = "/apprise") -> str:
    return base.replace("http://", "json://", 1) + path


def test_apprise_delivers_title_and_body_over_http(db_path: Path) -> None:
    with receiver() as hook:
        settings = NotifySettings(apprise_urls=[json_url(hook.url)], group_wait=0, group_interval=60)
        conn = connect(db_path)
        dispatcher = Dispatcher(build_notifiers(settings), settings, conn)
        two = [alert(instance="a", value=0.0), alert(instance="b")]
        fired = dispatcher.tick(two, T0 + 600)
        resolved = [alert(instance=i, state=AlertState.RESOLVED, resolved_at=T0 + 610) for i in "ab"]
        dispatcher.tick(resolved, T0 + 610)
        dispatcher.tick([], T0 + 660)
        conn.close()

    assert [r.ok for r in fired] == [True]
    assert fired[0].receiver == "apprise:json"
    first, second = (r.json() for r in hook.requests)
    assert first["title"] == "[FIRING:2] GatewayNotReady"
    assert first["type"] == "failure"  # severity critical
    body = first["message"]
    assert "GatewayNotReady summary" in body and "GatewayNotReady details" in body
    assert "value: 0" in body
    assert "since: 2023-11-14T22:13:20Z (10m ago)" in body
    assert "instance=a" in body and "instance=b" in body
    assert second["title"] == "[RESOLVED] GatewayNotReady"
    assert second["type"] == "success"


def test_apprise_failure_carries_apprise_reason_without_the_url_secret() -> None:
    with receiver(status=500) as hook:
        url = json_url(hook.url, "/hook?token=abcdef123456secret")
        (notifier,) = build_notifiers(NotifySettings(apprise_urls=[url]))
        result = notifier.send(firing_notification())

    assert not result.ok
    assert result.error is not None and "500" in result.error
    assert "abcdef123456secret" not in result.error
    assert "abcdef123456secret" not in repr(notifier)


def test_an_invalid_apprise_url_names_its_index_and_scheme_only() -> None:
    settings = NotifySettings(
        apprise_urls=["json://127.0.0.1/", "nosuchservice://user:hunter2hunter2@host/x"]
    )

    with pytest.raises(ConfigError) as caught:
        build_notifiers(settings)

    line = caught.value.one_line()
    assert "monitor.notify.apprise_urls[1]" in line
    assert "nosuchservice://" in line
    assert "hunter2" not in line and "host/x" not in line


def test_an_apprise_config_file_becomes_one_notifier(tmp_path: Path) -> None:
    with receiver() as hook:
        config = tmp_path / "apprise.yml"
        config.write_text(f"urls:\n  - {json_url(hook.url, '/from-config')}\n")
        config.chmod(0o600)
        (notifier,) = build_notifiers(NotifySettings(apprise_config=config))
        result = notifier.send(firing_notification())

    assert result.ok, result.error
    assert notifier.name == "apprise:apprise.yml"
    assert [r.path for r in hook.requests] == ["/from-config"]


@pytest.mark.parametrize("content", ["", "garbage: [\n"])
def test_an_apprise_config_without_services_is_refused(tmp_path: Path, content: str) -> None:
    config = tmp_path / "apprise.yml"
    config.write_text(content)

    with pytest.raises(ConfigError, match="defines no service URL"):
        build_notifiers(NotifySettings(apprise_config=config))


def test_a_missing_apprise_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"apprise_config.*does not exist"):
        build_notifiers(NotifySettings(apprise_config=tmp_path / "missing.yml"))
