"""Fakes for the notification tests: alerts, a recording notifier, a fresh monitor database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clawkeeper.monitor.db import connect
from clawkeeper.monitor.model import Alert, AlertState, labels_of
from clawkeeper.monitor.notify.base import DeliveryResult, Notification, delivered

T0 = 1_700_000_000.0


def alert(
    name: str = "GatewayNotReady",
    state: AlertState = AlertState.FIRING,
    *,
    fired_at: float = T0,
    resolved_at: float | None = None,
    severity: str = "critical",
    silenced_by: str | None = None,
    value: float | None = 0.0,
    **labels: str,
) -> Alert:
    return Alert(
        name=name,
        labels=labels_of(labels, alertname=name, severity=severity),
        annotations=(("description", f"{name} details"), ("summary", f"{name} summary")),
        state=state,
        value=value,
        active_since=fired_at - 60,
        fired_at=None if state is AlertState.PENDING else fired_at,
        resolved_at=resolved_at,
        silenced_by=silenced_by,
    )


@dataclass
class RecordingNotifier:
    """Remembers every notification; fails while `failures` > 0 (counting down)."""

    name: str = "fake"
    failures: int = 0
    sent: list[Notification] = field(default_factory=list)
    attempts: int = 0

    def send(self, notification: Notification) -> DeliveryResult:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            return delivered(self.name, notification, "receiver unreachable")
        self.sent.append(notification)
        return delivered(self.name, notification)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "monitor.sqlite"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(db_path)
    yield connection
    connection.close()
