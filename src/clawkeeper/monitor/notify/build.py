"""Turn `[monitor.notify]` into notifiers, failing at startup with one clear line per problem.

Notifications never go through the agent being watched unless `via_agent` is on: the agent may be
the thing that is broken. `via_agent` is an extension point — an adapter that can message through
the agent's own channels passes its notifier as `agent_notifier`; without one the setting is
refused rather than silently ignored.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.notify.apprise_notifier import AppriseNotifier, load_config, load_url, url_scheme
from clawkeeper.monitor.notify.base import Notifier
from clawkeeper.monitor.notify.secretfile import read_secret_file
from clawkeeper.monitor.notify.webhook import WebhookNotifier
from clawkeeper.monitor.settings import NotifySettings


def build_notifiers(settings: NotifySettings, *, agent_notifier: Notifier | None = None) -> list[Notifier]:
    """Every configured receiver, validated: bad URLs, unreadable or world-readable token files and
    unsupported settings raise ConfigError (nothing secret in the message)."""
    notifiers: list[Notifier] = []
    names = _Names()
    for index, target in enumerate(settings.webhooks):
        setting = f"monitor.notify.webhooks[{index}]"
        parts = urlsplit(target.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{setting}.url must be an http:// or https:// URL with a host",
                hint='e.g. url = "http://127.0.0.1:9000/alerts"',
            )
        token = (
            read_secret_file(target.bearer_token_file, setting=f"{setting}.bearer_token_file")
            if target.bearer_token_file is not None
            else None
        )
        port = f":{parts.port}" if parts.port else ""
        notifiers.append(
            WebhookNotifier(
                target.url,
                name=names.unique(target.name or f"webhook:{parts.hostname}{port}"),
                token=token,
                timeout_s=target.timeout,
                max_alerts=target.max_alerts,
            )
        )
    for index, url in enumerate(settings.apprise_urls):
        name = names.unique(f"apprise:{url_scheme(url).removesuffix('://')}")
        notifiers.append(AppriseNotifier(load_url(url, index=index), name=name, urls=[url]))
    if settings.apprise_config is not None:
        notifiers.append(
            AppriseNotifier(
                load_config(settings.apprise_config),
                name=names.unique(f"apprise:{settings.apprise_config.name}"),
            )
        )
    if settings.via_agent:
        if agent_notifier is None:
            raise ConfigError(
                "monitor.notify.via_agent is on, but this agent adapter cannot send notifications",
                hint="set via_agent = false; apprise_urls and webhooks work while the agent is down",
            )
        notifiers.append(agent_notifier)
    return notifiers


class _Names:
    """Names key the notification log, so they must be unique: later duplicates get `#2`, `#3`."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def unique(self, name: str) -> str:
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        return name if count == 1 else f"{name}#{count}"
