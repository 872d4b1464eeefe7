"""Alertmanager semantics of the dispatcher, driven by a fake clock: grouping, group_wait,
group_interval, repeat_interval, resolved notices, silences, retries and restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from clawkeeper.monitor.db import connect
from clawkeeper.monitor.model import Alert, AlertState
from clawkeeper.monitor.notify import DeliveryResult, Dispatcher, NoticeStatus, delivery_history, needs_update
from clawkeeper.monitor.notify.base import Notification
from clawkeeper.monitor.notify.nflog import LogEntry
from clawkeeper.monitor.notify.render import title
from clawkeeper.monitor.settings import NotifySettings

from .conftest import T0, RecordingNotifier, alert

STEP = 10.0  # the keeper evaluates (and ticks the dispatcher) every 10 s
SETTINGS = NotifySettings(group_wait=30, group_interval=300, repeat_interval=3600)


def run(dispatcher: Dispatcher, alerts: Sequence[Alert], start: float, end: float) -> list[DeliveryResult]:
    """Tick every STEP seconds from `start` to `end` inclusive with the same alerts."""
    results: list[DeliveryResult] = []
    now = start
    while now <= end:
        results += dispatcher.tick(alerts, now)
        now += STEP
    return results


def make(
    conn: sqlite3.Connection, *notifiers: RecordingNotifier, settings: NotifySettings = SETTINGS
) -> Dispatcher:
    return Dispatcher(list(notifiers) or [RecordingNotifier()], settings, conn)


def test_a_new_group_waits_group_wait_and_batches_what_fires_meanwhile(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)
    first = alert(instance="a")
    second = alert(instance="b", fired_at=T0 + 10)

    assert run(dispatcher, [first], T0, T0) == []
    assert run(dispatcher, [first, second], T0 + 10, T0 + 20) == []
    results = run(dispatcher, [first, second], T0 + 30, T0 + 30)

    assert [r.ok for r in results] == [True]
    (sent,) = fake.sent
    assert {a.label_map["instance"] for a in sent.alerts} == {"a", "b"}
    assert title(sent) == "[FIRING:2] GatewayNotReady"
    assert sent.group_key == '{}:{alertname="GatewayNotReady"}'


def test_alerts_are_grouped_by_the_group_by_labels(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake, settings=SETTINGS.model_copy(update={"group_by": ["severity"]}))
    alerts = [alert("GatewayDown"), alert("GatewayNotReady"), alert("HostHighCpu", severity="warning")]

    run(dispatcher, alerts, T0, T0 + 30)

    groups = sorted((dict(n.group_labels)["severity"], len(n.alerts)) for n in fake.sent)
    assert groups == [("critical", 2), ("warning", 1)]


def test_changes_to_a_group_wait_for_group_interval(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)
    first, later = alert(instance="a"), alert(instance="b", fired_at=T0 + 40)
    run(dispatcher, [first], T0, T0 + 30)
    assert len(fake.sent) == 1

    run(dispatcher, [first, later], T0 + 40, T0 + 320)
    assert len(fake.sent) == 1, "a change inside group_interval must wait"

    run(dispatcher, [first, later], T0 + 330, T0 + 330)
    assert len(fake.sent) == 2
    assert len(fake.sent[1].firing) == 2


def test_an_unchanged_firing_group_is_repeated_after_repeat_interval(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)
    firing = [alert()]

    run(dispatcher, firing, T0, T0 + 3620)
    assert len(fake.sent) == 1  # sent at T0+30; the next flush at or after T0+3630 repeats it

    run(dispatcher, firing, T0 + 3630, T0 + 3630)
    assert len(fake.sent) == 2
    assert fake.sent[1].firing == fake.sent[0].firing


def test_a_resolved_alert_gets_one_resolved_notice_then_the_group_closes(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)
    run(dispatcher, [alert()], T0, T0 + 100)
    resolved = alert(state=AlertState.RESOLVED, resolved_at=T0 + 110)

    run(dispatcher, [resolved], T0 + 110, T0 + 110)
    run(dispatcher, [], T0 + 120, T0 + 320)
    assert len(fake.sent) == 1, "the resolution waits for the group's next flush"

    run(dispatcher, [], T0 + 330, T0 + 4 * 3600)
    assert len(fake.sent) == 2
    notice = fake.sent[1]
    assert notice.status is NoticeStatus.RESOLVED
    assert [a.ends_at for a in notice.alerts] == [T0 + 110]
    assert title(notice) == "[RESOLVED] GatewayNotReady"
    assert dispatcher.open_groups() == []


def test_without_send_resolved_no_resolved_notice_but_a_new_firing_is_sent(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake, settings=SETTINGS.model_copy(update={"send_resolved": False}))
    run(dispatcher, [alert()], T0, T0 + 30)
    run(dispatcher, [alert(state=AlertState.RESOLVED, resolved_at=T0 + 40)], T0 + 40, T0 + 40)
    run(dispatcher, [], T0 + 50, T0 + 1000)
    assert len(fake.sent) == 1

    again = alert(fired_at=T0 + 1010)
    run(dispatcher, [again], T0 + 1010, T0 + 1040)
    assert len(fake.sent) == 2
    assert fake.sent[1].status is NoticeStatus.FIRING


def test_pending_and_silenced_alerts_are_not_notified(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)
    pending = alert("HostHighCpu", AlertState.PENDING)
    silenced = alert(instance="quiet", silenced_by="silence-1")
    loud = alert(instance="loud")

    run(dispatcher, [pending, silenced], T0, T0 + 400)
    assert fake.sent == []

    run(dispatcher, [pending, silenced, loud], T0 + 410, T0 + 740)
    (sent,) = fake.sent
    assert [a.label_map["instance"] for a in sent.alerts] == ["loud"]


def test_a_restart_does_not_resend_what_was_delivered(db_path: Path) -> None:
    first_conn = connect(db_path)
    before = RecordingNotifier()
    run(make(first_conn, before), [alert()], T0, T0 + 30)
    first_conn.close()
    assert len(before.sent) == 1

    after = RecordingNotifier()
    second_conn = connect(db_path)
    run(make(second_conn, after), [alert()], T0 + 600, T0 + 1800)
    second_conn.close()

    assert after.sent == []


def test_an_alert_briefly_pending_after_a_restart_is_not_resolved(db_path: Path) -> None:
    """A rule engine that lost its `for` state reports the alert pending for a while: that is not
    a resolution (the vanish grace starts at the restart, not at the last stored sighting)."""
    first_conn = connect(db_path)
    run(make(first_conn, RecordingNotifier()), [alert()], T0, T0 + 30)
    first_conn.close()

    after = RecordingNotifier()
    second_conn = connect(db_path)
    dispatcher = make(second_conn, after)
    run(dispatcher, [alert(state=AlertState.PENDING)], T0 + 3000, T0 + 3120)
    run(dispatcher, [alert()], T0 + 3130, T0 + 3500)
    second_conn.close()

    assert after.sent == []


def test_a_restart_does_not_lose_a_resolved_notice_still_owed(db_path: Path) -> None:
    first_conn = connect(db_path)
    before = make(first_conn, RecordingNotifier())
    run(before, [alert()], T0, T0 + 30)
    run(before, [alert(state=AlertState.RESOLVED, resolved_at=T0 + 40)], T0 + 40, T0 + 40)
    first_conn.close()

    after = RecordingNotifier()
    second_conn = connect(db_path)
    run(make(second_conn, after), [], T0 + 50, T0 + 400)  # the rule engine no longer reports it
    second_conn.close()

    (notice,) = after.sent
    assert notice.status is NoticeStatus.RESOLVED


def test_a_failing_notifier_is_retried_with_backoff_and_never_blocks_the_others(
    conn: sqlite3.Connection,
) -> None:
    good, bad = RecordingNotifier("good"), RecordingNotifier("bad", failures=2)
    dispatcher = make(conn, good, bad)

    at_flush = run(dispatcher, [alert()], T0, T0 + 30)
    assert sorted((r.receiver, r.ok) for r in at_flush) == [("bad", False), ("good", True)]
    assert len(good.sent) == 1

    later = run(dispatcher, [alert()], T0 + 40, T0 + 100)
    attempts = [(r.receiver, r.attempt, r.ok, r.at - T0) for r in later]
    assert attempts == [("bad", 2, False, 40.0), ("bad", 3, True, 60.0)]  # 10 s, then 20 s backoff
    assert len(good.sent) == 1, "the receiver that worked is not sent the notice again"
    assert len(bad.sent) == 1


def test_a_notifier_that_raises_fails_alone(conn: sqlite3.Connection) -> None:
    class Exploding:
        name = "exploding"

        def send(self, notification: Notification) -> DeliveryResult:
            raise RuntimeError("plugin bug")

    good = RecordingNotifier("good")
    dispatcher = Dispatcher([Exploding(), good], SETTINGS, conn)

    results = run(dispatcher, [alert()], T0, T0 + 30)

    assert {r.receiver: r.ok for r in results} == {"exploding": False, "good": True}
    assert len(good.sent) == 1


def test_an_alert_no_longer_reported_is_resolved_after_the_grace(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = Dispatcher([fake], SETTINGS, conn, vanish_grace_s=120)
    run(dispatcher, [alert()], T0, T0 + 30)

    run(dispatcher, [], T0 + 40, T0 + 330)

    assert [n.status for n in fake.sent] == [NoticeStatus.FIRING, NoticeStatus.RESOLVED]


def test_an_alert_that_fired_long_ago_skips_group_wait(conn: sqlite3.Connection) -> None:
    fake = RecordingNotifier()
    dispatcher = make(conn, fake)

    run(dispatcher, [alert(fired_at=T0 - 3600)], T0, T0)

    assert len(fake.sent) == 1


def test_delivery_history_lists_every_attempt_newest_first(conn: sqlite3.Connection) -> None:
    dispatcher = make(conn, RecordingNotifier("flaky", failures=1))
    run(dispatcher, [alert()], T0, T0 + 40)

    history = delivery_history(conn)

    assert [(h.receiver, h.ok, h.attempt, h.error) for h in history] == [
        ("flaky", True, 2, None),
        ("flaky", False, 1, "receiver unreachable"),
    ]
    assert history[0].group_key == '{}:{alertname="GatewayNotReady"}'


def test_delivery_history_is_empty_before_any_notification(db_path: Path) -> None:
    connect(db_path).close()
    assert delivery_history(connect(db_path, readonly=True)) == []


E = frozenset[str]


@pytest.mark.parametrize(
    ("entry", "firing", "resolved", "send_resolved", "age", "expected"),
    [
        (None, {"a"}, set(), True, 0, True),  # never notified, something fires
        (None, set(), {"a"}, True, 0, False),  # a lone resolution nobody heard of is noise
        (({"a"}, set()), {"a", "b"}, set(), True, 0, True),  # a new alert fires
        (({"a", "b"}, set()), {"a"}, {"b"}, True, 0, True),  # one resolved, resolved notices on
        (({"a", "b"}, set()), {"a"}, {"b"}, False, 0, False),  # ... off: wait for the repeat
        (({"a"}, set()), set(), {"a"}, False, 0, True),  # all resolved: clear receivers' state
        ((set(), {"a"}), set(), {"a"}, True, 0, False),  # resolution already sent
        (({"a"}, set()), {"a"}, set(), True, 3599, False),  # unchanged, within repeat_interval
        (({"a"}, set()), {"a"}, set(), True, 3600, True),  # unchanged, repeat_interval passed
    ],
)
def test_needs_update_follows_alertmanager_dedup(
    entry: tuple[set[str], set[str]] | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    age: float,
    expected: bool,
) -> None:
    logged = None if entry is None else LogEntry("r", "g", E(entry[0]), E(entry[1]), T0)
    settings = SETTINGS.model_copy(update={"send_resolved": send_resolved})

    decision = needs_update(logged, E(firing), E(resolved), now=T0 + age, settings=settings)

    assert decision is expected
