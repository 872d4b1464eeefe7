"""Notifications as the receivers read them: Alertmanager webhook v4 JSON, and a title and body
for chat and mail services.

The text follows Alertmanager's default templates ("[FIRING:2] GatewayNotReady") so people who
know those recognise it; values in times are RFC 3339 UTC like Alertmanager's.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from clawkeeper.monitor.durations import format_duration
from clawkeeper.monitor.notify.base import AlertNotice, NoticeStatus, Notification

WEBHOOK_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Alertmanager sends as endsAt while firing


def rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    moment = datetime.fromtimestamp(ts, tz=UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def webhook_payload(notification: Notification, *, receiver: str, max_alerts: int = 0) -> dict[str, Any]:
    """The Alertmanager webhook payload (version 4) for `notification`.

    `max_alerts` > 0 keeps the first that many alerts (firing first) and counts the rest in
    `truncatedAlerts`, as Alertmanager's `max_alerts` does.
    """
    alerts = list(notification.alerts)
    truncated = notification.truncated
    if max_alerts and len(alerts) > max_alerts:
        truncated += len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    return {
        "version": WEBHOOK_VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "status": notification.status.value,
        "receiver": receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": notification.external_url,
        "alerts": [_alert_json(a, notification.external_url) for a in alerts],
    }


def _alert_json(alert: AlertNotice, external_url: str) -> dict[str, Any]:
    return {
        "status": alert.status.value,
        "labels": alert.label_map,
        "annotations": alert.annotation_map,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(alert.ends_at if alert.status is NoticeStatus.RESOLVED else None),
        "generatorURL": external_url,
        "fingerprint": alert.fingerprint,
    }


def title(notification: Notification) -> str:
    """`[FIRING:2] GatewayNotReady` / `[RESOLVED] GatewayNotReady` — the group labels' values."""
    what = " ".join(v for _, v in notification.group_labels) or _names(notification)
    if notification.status is NoticeStatus.FIRING:
        return f"[FIRING:{len(notification.firing)}] {what}"
    return f"[RESOLVED] {what}"


def _names(notification: Notification) -> str:
    return ", ".join(sorted({a.name for a in notification.alerts}))


def body(notification: Notification) -> str:
    """Plain text listing each alert with its summary, description, value and since when."""
    lines: list[str] = []
    for heading, alerts in (("Firing", notification.firing), ("Resolved", notification.resolved)):
        if not alerts:
            continue
        if lines:
            lines.append("")
        lines.append(f"{heading}:")
        for alert in alerts:
            lines.extend(_alert_lines(alert, notification.now))
    if notification.truncated:
        lines.append(f"(+{notification.truncated} more alerts not shown)")
    if notification.external_url:
        lines += ["", f"Source: {notification.external_url}"]
    return "\n".join(lines)


def _alert_lines(alert: AlertNotice, now: float) -> list[str]:
    labels = alert.label_map
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    lines = [f"- {alert.name}" + (f" ({shown})" if shown else "")]
    notes = alert.annotation_map
    for key in ("summary", "description"):
        if notes.get(key):
            lines.append(f"  {key}: {notes[key]}")
    if alert.value is not None and math.isfinite(alert.value):
        lines.append(f"  value: {alert.value:g}")
    lines.append(
        f"  since: {rfc3339(alert.starts_at)} ({format_duration(max(0.0, now - alert.starts_at))} ago)"
    )
    if alert.status is NoticeStatus.RESOLVED and alert.ends_at is not None:
        lines.append(f"  resolved: {rfc3339(alert.ends_at)}")
    return lines
