"""Silences in the monitor database: add, list, expire, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.errors import NotFound, UsageError
from clawkeeper.monitor.model import Matcher, MatchOp, labels_of
from clawkeeper.monitor.rules import AlertStateStore

NOW = 1_700_000_000.0
BY_NAME = [Matcher("alertname", MatchOp.EQ, "HostHighCpu")]


def test_add_list_and_expire(tmp_path: Path) -> None:
    store = AlertStateStore.open(tmp_path / "m.sqlite")
    first = store.silences.add(BY_NAME, NOW + 7200, "load test", "alice", now=NOW)
    second = store.silences.add(
        [Matcher("mountpoint", MatchOp.RE, "/mnt/.*")], NOW + 60, "backup disk swap", "bob", now=NOW
    )
    assert {s.id for s in store.silences.list(active_only=True, now=NOW)} == {first, second}
    assert [s.id for s in store.silences.list(active_only=True, now=NOW + 120)] == [first]  # second ended
    silence = store.silences.get(first[:7])  # a unique prefix will do
    assert (silence.reason, silence.created_by, silence.ends_at) == ("load test", "alice", NOW + 7200)
    assert silence.matches(labels_of(alertname="HostHighCpu", severity="warning"))
    assert not silence.matches(labels_of(alertname="GatewayDown"))
    store.silences.expire(first, now=NOW + 10)
    assert [s.id for s in store.silences.active(NOW + 20)] == [second]
    assert store.silences.get(first).expired_at == NOW + 10


@pytest.mark.parametrize(
    ("matchers", "ends_at", "reason", "message"),
    [
        ([], NOW + 60, "r", "at least one matcher"),
        (BY_NAME, NOW + 60, "  ", "needs a reason"),
        (BY_NAME, NOW - 1, "r", "end in the past"),
        (BY_NAME, NOW + 400 * 86400, "r", "at most a year"),
        ([Matcher("alertname", MatchOp.RE, ".*")], NOW + 60, "r", "silence every alert"),
        ([Matcher("alertname", MatchOp.RE, "(")], NOW + 60, "r", "invalid regular expression"),
    ],
)
def test_refused(tmp_path: Path, matchers: list[Matcher], ends_at: float, reason: str, message: str) -> None:
    store = AlertStateStore.open(tmp_path / "m.sqlite")
    with pytest.raises(UsageError, match=message):
        store.silences.add(matchers, ends_at, reason, "alice", now=NOW)
    assert store.silences.list() == []


def test_unknown_id(tmp_path: Path) -> None:
    store = AlertStateStore.open(tmp_path / "m.sqlite")
    with pytest.raises(NotFound, match="no silence with id 'abc'"):
        store.silences.expire("abc", now=NOW)


def test_a_read_only_view_of_a_database_without_alert_tables_is_empty(tmp_path: Path) -> None:
    from clawkeeper.monitor.db import connect

    path = tmp_path / "m.sqlite"
    connect(path).close()  # another component created the file; the rules never ran
    store = AlertStateStore.open(path, readonly=True)
    assert (store.instances(), store.transitions(), store.silences.list(), store.last_evaluation_at()) == (
        [],
        [],
        [],
        None,
    )


def test_history_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from clawkeeper.monitor.model import AlertState
    from clawkeeper.monitor.rules import Transition
    from clawkeeper.monitor.rules import store as store_module

    monkeypatch.setattr(store_module, "HISTORY_LIMIT", 5)
    store = AlertStateStore.open(tmp_path / "m.sqlite")
    for i in range(12):
        change = Transition(NOW + i, "X", "fp", (), AlertState.INACTIVE, AlertState.FIRING, 1.0)
        store.save(NOW + i, [], [change], [])
    kept = store.transitions(limit=100)
    assert [t.at for t in kept] == [NOW + i for i in range(11, 6, -1)]
