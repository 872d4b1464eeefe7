"""When to notify whom: Alertmanager's grouping, timing and de-duplication, driven by `tick`.

Each evaluation the keeper hands over the current alerts; the dispatcher:

- puts firing alerts into groups by the `group_by` labels (pending and inactive alerts are not
  notified; silenced alerts stay in their group but are left out of every notification);
- flushes a new group after `group_wait` (at once when its alert already fired longer ago), then
  every `group_interval`, so changes are batched and never sent more often than that;
- at a flush, notifies a receiver only when the set of firing alerts grew, when alerts resolved
  (with `send_resolved`), or when `repeat_interval` passed since the last notice — compared with
  the notification log, which survives restarts;
- retries a failed receiver with exponential backoff at later ticks without delaying the others,
  and keeps a resolved alert until every receiver has been told.

An alert that was firing and is no longer reported at all (its rule was removed, the engine lost
its state) is resolved after `vanish_grace_s`, like Alertmanager's `resolve_timeout`.

`tick(alerts, now)` is pure in time: `now` is passed in, so tests drive it with a fake clock.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from clawkeeper.monitor.model import Alert, AlertState, Labels
from clawkeeper.monitor.notify.base import (
    AlertNotice,
    DeliveryResult,
    NoticeStatus,
    Notification,
    Notifier,
    delivered,
)
from clawkeeper.monitor.notify.grouping import fingerprint_of, group_key, group_labels
from clawkeeper.monitor.notify.nflog import LogEntry, NotificationLog
from clawkeeper.monitor.settings import NotifySettings

RESOLVE_TIMEOUT_S = 300.0  # Alertmanager's default resolve_timeout
RETRY_BASE_S = 10.0
RETRY_MAX_S = 300.0
SEND_TIMEOUT_S = 60.0  # a receiver that hangs past its own timeouts is abandoned after this
LOG_RETENTION_S = 5 * 86400.0  # Alertmanager keeps its nflog for 120h
HISTORY_RETENTION_S = 30 * 86400.0
GC_INTERVAL_S = 3600.0


@dataclass
class _Tracked:
    """One alert in a group, as last reported."""

    fingerprint: str
    name: str
    labels: Labels
    annotations: tuple[tuple[str, str], ...]
    status: NoticeStatus
    starts_at: float
    ends_at: float | None
    value: float | None
    silenced: bool
    last_seen: float

    def notice(self) -> AlertNotice:
        return AlertNotice(
            fingerprint=self.fingerprint,
            name=self.name,
            status=self.status,
            labels=self.labels,
            annotations=self.annotations,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            value=self.value,
        )

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Tracked:
        return cls(
            fingerprint=str(data["fingerprint"]),
            name=str(data["name"]),
            labels=tuple((str(k), str(v)) for k, v in data["labels"]),
            annotations=tuple((str(k), str(v)) for k, v in data["annotations"]),
            status=NoticeStatus(data["status"]),
            starts_at=float(data["starts_at"]),
            ends_at=None if data["ends_at"] is None else float(data["ends_at"]),
            value=None if data["value"] is None else float(data["value"]),
            silenced=bool(data["silenced"]),
            last_seen=float(data["last_seen"]),
        )


@dataclass
class _Retry:
    attempts: int
    retry_at: float


@dataclass
class _Group:
    key: str
    labels: Labels
    next_flush: float
    alerts: dict[str, _Tracked] = field(default_factory=dict)
    retries: dict[str, _Retry] = field(default_factory=dict)  # by receiver name

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": [list(pair) for pair in self.labels],
            "next_flush": self.next_flush,
            "alerts": {fp: a.to_json() for fp, a in self.alerts.items()},
            "retries": {n: dataclasses.asdict(r) for n, r in self.retries.items()},
        }

    @classmethod
    def from_json(cls, key: str, data: dict[str, Any]) -> _Group:
        return cls(
            key=key,
            labels=tuple((str(k), str(v)) for k, v in data["labels"]),
            next_flush=float(data["next_flush"]),
            alerts={fp: _Tracked.from_json(a) for fp, a in data["alerts"].items()},
            retries={n: _Retry(int(r["attempts"]), float(r["retry_at"])) for n, r in data["retries"].items()},
        )


@dataclass(frozen=True)
class _Job:
    group: _Group
    notifier: Notifier
    notification: Notification
    firing: frozenset[str]
    resolved: frozenset[str]


class Dispatcher:
    """Groups, times and de-duplicates notifications for a set of receivers.

    Not thread-safe: call `tick` from one thread (the keeper's loop). Sends to several receivers
    run in parallel inside a tick.
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        settings: NotifySettings,
        conn: sqlite3.Connection,
        *,
        vanish_grace_s: float = RESOLVE_TIMEOUT_S,
        retry_base_s: float = RETRY_BASE_S,
        retry_max_s: float = RETRY_MAX_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        names = [n.name for n in notifiers]
        if len(set(names)) != len(names):
            raise ValueError(f"notifier names must be unique: {names}")
        self._notifiers = list(notifiers)
        self._settings = settings
        self._log = NotificationLog(conn)
        self._vanish_grace = vanish_grace_s
        self._retry_base = retry_base_s
        self._retry_max = retry_max_s
        self._send_timeout = send_timeout_s
        self._groups = {k: _Group.from_json(k, v) for k, v in self._log.load_groups().items()}
        for group in self._groups.values():  # receivers removed from the config owe nothing
            group.retries = {n: r for n, r in group.retries.items() if n in names}
        self._restored = bool(self._groups)
        self._dirty = False
        self._next_gc = 0.0

    @property
    def receivers(self) -> list[str]:
        return [n.name for n in self._notifiers]

    def open_groups(self) -> list[tuple[str, int]]:
        """(group key, alerts held) of every group still tracked — for status views."""
        return [(g.key, len(g.alerts)) for g in self._groups.values()]

    # --- the tick ---------------------------------------------------------------------------------

    def tick(self, alerts: Sequence[Alert], now: float) -> list[DeliveryResult]:
        """Take the current alerts, send what is due, and return every delivery attempt made."""
        self._ingest(alerts, now)
        jobs: list[_Job] = []
        flushed: list[tuple[_Group, frozenset[str]]] = []
        for group in list(self._groups.values()):
            due = now >= group.next_flush
            if due:
                group.next_flush = now + self._settings.group_interval
                self._dirty = True
                receivers = [n for n in self._notifiers if not self._backing_off(group, n.name, now)]
                resolved_now = frozenset(
                    fp for fp, a in group.alerts.items() if a.status is NoticeStatus.RESOLVED
                )
                flushed.append((group, resolved_now))
            else:
                receivers = [n for n in self._notifiers if self._retry_due(group, n.name, now)]
            jobs += self._plan(group, receivers, now)
        results = self._apply(jobs, self._send(jobs), now)
        for group, resolved in flushed:
            self._clean(group, resolved)
        self._log.commit(
            now=now,
            groups={k: g.to_json() for k, g in self._groups.items()} if self._dirty else None,
            deliveries=results,
        )
        self._dirty = False
        if now >= self._next_gc:
            self._log.forget_older_than(
                now - max(LOG_RETENTION_S, 2 * self._settings.repeat_interval), now - HISTORY_RETENTION_S
            )
            self._next_gc = now + GC_INTERVAL_S
        return results

    # --- taking alerts in -------------------------------------------------------------------------

    def _ingest(self, alerts: Sequence[Alert], now: float) -> None:
        if self._restored:
            # `last_seen` is persisted only with other changes: the grace starts again at restart
            for group in self._groups.values():
                for tracked in group.alerts.values():
                    tracked.last_seen = max(tracked.last_seen, now)
            self._restored = False
        firing_now: set[str] = set()
        for alert in alerts:
            if alert.state is AlertState.FIRING:
                firing_now.add(self._take_firing(alert, now))
            elif alert.state is AlertState.RESOLVED:
                self._take_resolved(alert, now)
        for group in self._groups.values():
            for tracked in group.alerts.values():
                vanished = (
                    tracked.fingerprint not in firing_now and now - tracked.last_seen >= self._vanish_grace
                )
                if tracked.status is NoticeStatus.FIRING and vanished:
                    tracked.status = NoticeStatus.RESOLVED
                    tracked.ends_at = now
                    self._dirty = True

    def _take_firing(self, alert: Alert, now: float) -> str:
        fp = fingerprint_of(alert)
        labels = group_labels(alert.labels, self._settings.group_by)
        key = group_key(labels)
        starts_at = alert.fired_at or alert.active_since or now
        group = self._groups.get(key)
        if group is None:
            # like Alertmanager: an alert that already fired longer than group_wait ago goes out now
            wait_until = (
                now if starts_at + self._settings.group_wait <= now else now + self._settings.group_wait
            )
            group = self._groups[key] = _Group(key=key, labels=labels, next_flush=wait_until)
            self._dirty = True
        tracked = group.alerts.get(fp)
        silenced = alert.silenced_by is not None
        if tracked is None or tracked.status is not NoticeStatus.FIRING or tracked.silenced != silenced:
            self._dirty = True
        if tracked is not None and tracked.status is NoticeStatus.FIRING:
            starts_at = tracked.starts_at  # keep the first firing time across re-reports
        group.alerts[fp] = _Tracked(
            fingerprint=fp,
            name=alert.name,
            labels=alert.labels,
            annotations=alert.annotations,
            status=NoticeStatus.FIRING,
            starts_at=starts_at,
            ends_at=None,
            value=alert.value,
            silenced=silenced,
            last_seen=now,
        )
        return fp

    def _take_resolved(self, alert: Alert, now: float) -> None:
        fp = fingerprint_of(alert)
        group = self._groups.get(group_key(group_labels(alert.labels, self._settings.group_by)))
        tracked = group.alerts.get(fp) if group is not None else None
        if tracked is None or tracked.status is NoticeStatus.RESOLVED:
            return  # never notified as firing here (or already resolved): nothing to tell anyone
        tracked.status = NoticeStatus.RESOLVED
        tracked.ends_at = alert.resolved_at or now
        tracked.value = alert.value
        tracked.silenced = alert.silenced_by is not None
        tracked.last_seen = now
        self._dirty = True

    # --- deciding and sending ---------------------------------------------------------------------

    def _backing_off(self, group: _Group, receiver: str, now: float) -> bool:
        retry = group.retries.get(receiver)
        return retry is not None and retry.retry_at > now

    def _retry_due(self, group: _Group, receiver: str, now: float) -> bool:
        retry = group.retries.get(receiver)
        return retry is not None and retry.retry_at <= now

    def _plan(self, group: _Group, receivers: Sequence[Notifier], now: float) -> list[_Job]:
        if not receivers:
            return []
        visible = [a for a in group.alerts.values() if not a.silenced]
        firing = frozenset(a.fingerprint for a in visible if a.status is NoticeStatus.FIRING)
        resolved = frozenset(a.fingerprint for a in visible if a.status is NoticeStatus.RESOLVED)
        if not firing and not resolved:
            return []
        send_resolved = self._settings.send_resolved
        shown = sorted(
            (a for a in visible if a.status is NoticeStatus.FIRING or send_resolved),
            key=lambda a: (a.status is not NoticeStatus.FIRING, a.starts_at, a.fingerprint),
        )
        notification = Notification(
            group_key=group.key,
            group_labels=group.labels,
            alerts=tuple(a.notice() for a in shown),
            now=now,
            external_url=self._settings.external_url,
        )
        jobs = []
        for notifier in receivers:
            entry = self._log.entry(notifier.name, group.key)
            if not needs_update(entry, firing, resolved, now=now, settings=self._settings):
                group.retries.pop(notifier.name, None)
                continue
            if not notification.alerts:  # only resolutions, and resolved notices are off
                self._log.record(LogEntry(notifier.name, group.key, firing, resolved, now))
                group.retries.pop(notifier.name, None)
                continue
            jobs.append(_Job(group, notifier, notification, firing, resolved))
        return jobs

    def _send(self, jobs: Sequence[_Job]) -> list[DeliveryResult]:
        if len(jobs) <= 1:
            return [_send_one(job) for job in jobs]
        pool = ThreadPoolExecutor(max_workers=min(len(jobs), 8), thread_name_prefix="notify")
        try:
            futures = [pool.submit(_send_one, job) for job in jobs]
            wait(futures, timeout=self._send_timeout)
            return [
                f.result()
                if f.done()
                else delivered(
                    job.notifier.name,
                    job.notification,
                    f"no answer within {self._send_timeout:g}s (abandoned)",
                )
                for job, f in zip(jobs, futures, strict=True)
            ]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _apply(
        self, jobs: Sequence[_Job], results: Sequence[DeliveryResult], now: float
    ) -> list[DeliveryResult]:
        final = []
        for job, result in zip(jobs, results, strict=True):
            name = job.notifier.name
            previous = job.group.retries.get(name)
            attempt = (previous.attempts + 1) if previous else 1
            if result.ok:
                self._log.record(LogEntry(name, job.group.key, job.firing, job.resolved, now))
                job.group.retries.pop(name, None)
            else:
                delay = min(self._retry_max, self._retry_base * 2 ** (attempt - 1))
                job.group.retries[name] = _Retry(attempts=attempt, retry_at=now + delay)
            self._dirty = True
            final.append(dataclasses.replace(result, receiver=name, attempt=attempt))
        return final

    def _clean(self, group: _Group, resolved: frozenset[str]) -> None:
        """After a flush every receiver took: drop resolved alerts, and the group once empty."""
        if group.retries:
            return
        for fp in resolved:
            tracked = group.alerts.get(fp)
            if tracked is not None and tracked.status is NoticeStatus.RESOLVED:
                del group.alerts[fp]
                self._dirty = True
        if not group.alerts:
            del self._groups[group.key]
            self._dirty = True


def needs_update(
    entry: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    *,
    now: float,
    settings: NotifySettings,
) -> bool:
    """Alertmanager's DedupStage decision for one receiver and group."""
    if entry is None:
        return bool(firing)  # never notified: only if something fires (a lone resolution is noise)
    if not firing <= entry.firing:
        return True  # new firing alerts
    if not firing:
        # everything resolved: tell receivers that were told something fired (also clears the log)
        return bool(entry.firing)
    if settings.send_resolved and not resolved <= entry.resolved:
        return True
    return entry.sent_at <= now - settings.repeat_interval


def _send_one(job: _Job) -> DeliveryResult:
    try:
        return job.notifier.send(job.notification)
    except Exception as exc:  # noqa: BLE001 - one broken receiver must not stop the others
        return delivered(job.notifier.name, job.notification, f"{type(exc).__name__} in notifier")
