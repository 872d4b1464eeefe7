"""Notifications through apprise: one notifier per configured URL (Telegram, Slack, Discord, mail,
ntfy, Matrix, a plain `json://` endpoint …) or per apprise config file.

One notifier per URL keeps deliveries independent: a broken Slack token never makes the Telegram
notice fail or be sent twice on retry. Apprise URLs often embed tokens, so a URL is shown only
by its index and scheme, and apprise's failure reasons are scrubbed of the URL's parts.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.notify.base import DeliveryResult, NoticeStatus, Notification, delivered
from clawkeeper.monitor.notify.render import body, title

URL_HELP = "see https://github.com/caronc/apprise/wiki for that service's URL format"
_FRAGMENT = re.compile(r"[^/?&=:@#;,]{6,}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,19}$")
_CAPTURE_LOCK = threading.Lock()  # apprise < 2 reports reasons only through a global logger


def url_scheme(url: str) -> str:
    """`tgram://` for a Telegram URL; never more of the URL than its scheme."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return f"{scheme}://" if _SCHEME.match(scheme) else "(no scheme)"


def _new_apprise() -> Any:
    import apprise  # heavy: only when notifications are configured

    return apprise.Apprise(asset=apprise.AppriseAsset(app_id="clawkeeper", app_desc="clawkeeper"))


def load_url(url: str, *, index: int) -> Any:
    """An apprise instance for one URL; ConfigError naming the index and scheme when it's invalid."""
    instance = _new_apprise()
    if not instance.add(url):
        raise ConfigError(
            f"monitor.notify.apprise_urls[{index}] ({url_scheme(url)}…) is not a URL apprise understands",
            hint=f"{URL_HELP} (the URL is not shown: it may contain a token)",
        )
    return instance


def load_config(path: Path) -> Any:
    """An apprise instance for every service of an apprise config file (YAML or text)."""
    import apprise

    setting = "monitor.notify.apprise_config"
    if not path.is_file():
        raise ConfigError(f"{setting}: {path} does not exist", hint="create it or remove the setting")
    config = apprise.AppriseConfig()
    instance = _new_apprise()
    if not config.add(str(path)) or not instance.add(config) or len(instance) == 0:
        raise ConfigError(
            f"{setting}: {path} defines no service URL apprise understands",
            hint="see https://github.com/caronc/apprise/wiki/config for the file format",
        )
    return instance


def _sensitive_fragments(urls: Iterable[str]) -> list[str]:
    """Parts of the URLs that may be secrets (everything but scheme and host), longest first."""
    fragments: set[str] = set()
    for url in urls:
        fragments.add(url)
        rest = url.split("://", 1)[-1]
        host = urlsplit(url).hostname or ""
        fragments.update(f for f in _FRAGMENT.findall(rest) if f.lower() != host.lower())
    return sorted(fragments, key=len, reverse=True)


class AppriseNotifier:
    def __init__(self, instance: Any, *, name: str, urls: Iterable[str] = ()) -> None:
        """`instance` is an `apprise.Apprise` (see `load_url` / `load_config`); `urls` are the raw
        URLs it holds, used only to scrub them out of failure reasons."""
        self._apprise = instance
        self._name = name
        self._secret_parts = _sensitive_fragments(urls)

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"AppriseNotifier({self._name!r})"

    def send(self, notification: Notification) -> DeliveryResult:
        kwargs = {
            "title": title(notification),
            "body": body(notification),
            "notify_type": _notify_type(notification),
        }
        try:
            result, reasons = self._notify(kwargs)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must fail this delivery, not the keeper
            return delivered(
                self._name, notification, self._scrub(f"apprise raised {type(exc).__name__}: {exc}")
            )
        if result:
            return delivered(self._name, notification)
        reason = "; ".join(dict.fromkeys(reasons)) or "apprise reported a failure without a reason"
        return delivered(self._name, notification, self._scrub(reason))

    def _notify(self, kwargs: dict[str, Any]) -> tuple[bool, list[str]]:
        import apprise

        if hasattr(apprise, "AppriseResult"):  # apprise >= 2: reasons travel with the result
            result = self._apprise.notify(**kwargs)
            try:
                entries = list(result.logs()) if hasattr(result, "logs") else []
            finally:
                if hasattr(result, "close"):
                    result.close()  # captured logs may be spooled to a temporary file
            return bool(result), [e.message for e in entries if e.level in ("WARNING", "ERROR", "CRITICAL")]
        with _CAPTURE_LOCK, apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as capture:  # type: ignore[no-untyped-call]
            ok = self._apprise.notify(**kwargs)
        return bool(ok), [line for line in capture.getvalue().splitlines() if line.strip()]

    def _scrub(self, text: str) -> str:
        for fragment in self._secret_parts:
            text = text.replace(fragment, "<redacted>")
        return " ".join(text.split())[:300]


def _notify_type(notification: Notification) -> str:
    if notification.status is NoticeStatus.RESOLVED:
        return "success"
    severities = {a.label_map.get("severity", "") for a in notification.firing}
    if "critical" in severities:
        return "failure"
    if "warning" in severities:
        return "warning"
    return "info"
