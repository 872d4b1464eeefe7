"""Notifications: receivers (apprise, Alertmanager webhooks) and the dispatcher that groups,
times and de-duplicates what the rule engine reports.

The keeper builds the receivers once at startup and ticks the dispatcher after every evaluation:

    notifiers = build_notifiers(settings.monitor.notify)          # ConfigError on bad settings
    dispatcher = Dispatcher(notifiers, settings.monitor.notify, db.connect(store_path))
    results = dispatcher.tick(alerts, now)                        # list[DeliveryResult]

`delivery_history(conn)` reads what was sent (for `clawkeeper alerts`).
"""

from clawkeeper.monitor.notify.apprise_notifier import AppriseNotifier
from clawkeeper.monitor.notify.base import AlertNotice, DeliveryResult, NoticeStatus, Notification, Notifier
from clawkeeper.monitor.notify.build import build_notifiers
from clawkeeper.monitor.notify.dispatcher import Dispatcher, needs_update
from clawkeeper.monitor.notify.nflog import delivery_history
from clawkeeper.monitor.notify.webhook import WebhookNotifier

__all__ = [
    "AlertNotice",
    "AppriseNotifier",
    "DeliveryResult",
    "Dispatcher",
    "NoticeStatus",
    "Notification",
    "Notifier",
    "WebhookNotifier",
    "build_notifiers",
    "delivery_history",
    "needs_update",
]
