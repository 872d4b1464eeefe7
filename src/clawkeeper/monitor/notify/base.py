"""What a notifier receives and returns, and the one small interface every notifier implements.

A `Notification` is one alert group at one moment: its firing alerts and (when resolved notices
are on) the alerts that resolved since the group was last notified. It carries everything a
receiver needs, already in wall-clock Unix seconds; notifiers turn it into their own format
(Alertmanager webhook JSON, an apprise title and body) and never decide *whether* to send — the
dispatcher does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from clawkeeper.monitor.model import Labels


class NoticeStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertNotice:
    """One alert as a receiver sees it."""

    fingerprint: str
    name: str
    status: NoticeStatus
    labels: Labels
    annotations: tuple[tuple[str, str], ...]
    starts_at: float
    ends_at: float | None = None  # when it resolved; None while firing
    value: float | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def annotation_map(self) -> dict[str, str]:
        return dict(self.annotations)


@dataclass(frozen=True)
class Notification:
    """One alert group to deliver: firing alerts first, then resolved ones."""

    group_key: str
    group_labels: Labels
    alerts: tuple[AlertNotice, ...]
    now: float
    external_url: str = ""
    truncated: int = 0  # alerts left out by a receiver's max_alerts

    @property
    def status(self) -> NoticeStatus:
        """`firing` while any alert in the notification fires, as Alertmanager reports it."""
        if any(a.status is NoticeStatus.FIRING for a in self.alerts):
            return NoticeStatus.FIRING
        return NoticeStatus.RESOLVED

    @property
    def firing(self) -> tuple[AlertNotice, ...]:
        return tuple(a for a in self.alerts if a.status is NoticeStatus.FIRING)

    @property
    def resolved(self) -> tuple[AlertNotice, ...]:
        return tuple(a for a in self.alerts if a.status is NoticeStatus.RESOLVED)

    @property
    def common_labels(self) -> dict[str, str]:
        return _common([a.label_map for a in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common([a.annotation_map for a in self.alerts])


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    """The pairs every map shares with the same value (Alertmanager's commonLabels)."""
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in rest)}


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of handing one notification to one receiver. `error` is None on success.

    Errors are one line and never contain a secret (tokens, secret-bearing URLs).
    """

    receiver: str
    group_key: str
    status: NoticeStatus
    alerts: int
    at: float
    error: str | None = None
    attempt: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Notifier(Protocol):
    """One receiver. `send` must not raise: failures come back as a DeliveryResult with `error`."""

    @property
    def name(self) -> str:
        """Stable, secret-free identity: the key of the notification log and the history."""
        ...

    def send(self, notification: Notification) -> DeliveryResult: ...


def delivered(receiver: str, notification: Notification, error: str | None = None) -> DeliveryResult:
    """The result a notifier returns for `notification` (error None: delivered)."""
    return DeliveryResult(
        receiver=receiver,
        group_key=notification.group_key,
        status=notification.status,
        alerts=len(notification.alerts),
        at=notification.now,
        error=error,
    )
