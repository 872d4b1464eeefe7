"""The retention policy is a pure function; these tables pin restic/borg semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from clawkeeper.backup.retention import RetentionPolicy, SnapshotInfo, apply_policy


def snap(sid: str, when: str, host: str = "h", tags: tuple[str, ...] = ()) -> SnapshotInfo:
    return SnapshotInfo(sid, datetime.fromisoformat(when).replace(tzinfo=UTC), host, ("/state",), tags)


THREE_DAYS = [
    snap("d1a", "2026-03-01T10:00"),
    snap("d1b", "2026-03-01T18:00"),
    snap("d2a", "2026-03-02T09:00"),
    snap("d2b", "2026-03-02T20:00"),
    snap("d3a", "2026-03-03T12:00"),
]

HOURS = [snap(f"h{i}", f"2026-03-03T{10 + i // 2:02d}:{(i % 2) * 30:02d}") for i in range(6)]  # 10:00..12:30

MONTHS = [
    snap("jan", "2026-01-15T00:00"),
    snap("feb1", "2026-02-01T00:00"),
    snap("feb2", "2026-02-20T00:00"),
    snap("mar", "2026-03-10T00:00"),
    snap("y25", "2025-06-01T00:00"),
]

# ISO weeks: 2026-12-28 (Mon) .. 2027-01-03 (Sun) are all ISO week 2026-W53
WEEKS = [
    snap("w52", "2026-12-22T00:00"),
    snap("w53a", "2026-12-29T00:00"),
    snap("w53b", "2027-01-02T00:00"),
    snap("w1", "2027-01-05T00:00"),
]

NOW = datetime(2027, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("snapshots", "policy", "kept"),
    [
        (THREE_DAYS, RetentionPolicy(last=3), {"d3a", "d2b", "d2a"}),
        (THREE_DAYS, RetentionPolicy(last=10), {"d3a", "d2b", "d2a", "d1b", "d1a"}),
        (THREE_DAYS, RetentionPolicy(daily=2), {"d3a", "d2b"}),
        # counts left at the oldest snapshot: it is kept too (history as long as possible)
        (THREE_DAYS, RetentionPolicy(daily=5), {"d3a", "d2b", "d1b", "d1a"}),
        (THREE_DAYS, RetentionPolicy(daily=-1), {"d3a", "d2b", "d1b", "d1a"}),
        (THREE_DAYS, RetentionPolicy(last=1, daily=2), {"d3a", "d2b"}),
        (HOURS, RetentionPolicy(hourly=2), {"h5", "h3"}),
        (HOURS, RetentionPolicy(hourly=3), {"h5", "h3", "h1"}),
        (HOURS, RetentionPolicy(hourly=4), {"h5", "h3", "h1", "h0"}),
        (MONTHS, RetentionPolicy(monthly=2), {"mar", "feb2"}),
        (MONTHS, RetentionPolicy(monthly=2, yearly=2), {"mar", "feb2", "y25"}),
        (MONTHS, RetentionPolicy(yearly=1), {"mar"}),
        (WEEKS, RetentionPolicy(weekly=2), {"w1", "w53b"}),
        (WEEKS, RetentionPolicy(weekly=3), {"w1", "w53b", "w52"}),
        # within is measured from the newest snapshot, not from "now" (cutoff 03-02 08:00)
        (THREE_DAYS, RetentionPolicy(within=timedelta(days=1, hours=4)), {"d3a", "d2b", "d2a"}),
        (
            [*THREE_DAYS[:3], snap("tagged", "2026-03-02T10:00", tags=("pre-update",)), *THREE_DAYS[3:]],
            RetentionPolicy(last=1, tags=frozenset({"pre-update"})),
            {"d3a", "tagged"},
        ),
        # the newest snapshot survives even a policy that names nothing it matches
        (THREE_DAYS, RetentionPolicy(tags=frozenset({"nothing-has-this"})), {"d3a"}),
    ],
)
def test_policy_table(snapshots: list[SnapshotInfo], policy: RetentionPolicy, kept: set[str]) -> None:
    decisions = apply_policy(snapshots, policy, now=NOW)
    assert {d.snapshot.id for d in decisions if d.keep} == kept
    assert len(decisions) == len(snapshots)
    assert all(d.reasons for d in decisions if d.keep)


def test_every_group_is_judged_alone() -> None:
    snapshots = [
        snap("a1", "2026-03-01T00:00", "alpha"),
        snap("a2", "2026-03-02T00:00", "alpha"),
        snap("b1", "2026-03-01T00:00", "beta"),
    ]
    decisions = apply_policy(snapshots, RetentionPolicy(last=1), now=NOW)
    assert {d.snapshot.id for d in decisions if d.keep} == {"a2", "b1"}
    assert {d.group for d in decisions} == {"host=alpha paths=/state", "host=beta paths=/state"}


def test_days_are_counted_in_the_given_time_zone() -> None:
    late = [snap("x", "2026-03-01T21:30"), snap("y", "2026-03-01T23:30")]
    assert sum(d.keep for d in apply_policy(late, RetentionPolicy(daily=1), now=NOW)) == 1
    plus_two = timezone(timedelta(hours=2))  # 23:30 UTC is already the next day there
    decisions = apply_policy(late, RetentionPolicy(daily=5), tz=plus_two, now=NOW)
    assert [d.reasons for d in decisions if d.snapshot.id == "x"] == [("daily",)]


def test_snapshots_from_the_future_do_not_shift_keep_within() -> None:
    snapshots = [
        snap("old", "2026-03-01T00:00"),
        snap("recent", "2026-03-03T00:00"),
        snap("future", "2030-01-01T00:00"),
    ]
    decisions = apply_policy(
        snapshots, RetentionPolicy(within=timedelta(days=3)), now=datetime(2026, 3, 4, tzinfo=UTC)
    )
    assert {d.snapshot.id for d in decisions if d.keep} == {"future", "recent", "old"}


def test_reasons_explain_each_keep() -> None:
    decisions = apply_policy(THREE_DAYS, RetentionPolicy(last=1, daily=5), now=NOW)
    reasons = {d.snapshot.id: d.reasons for d in decisions}
    assert reasons["d3a"] == ("newest", "last", "daily")
    assert reasons["d1a"] == ("daily (oldest)",)
    assert reasons["d2a"] == ()


def test_an_empty_policy_is_refused_not_applied() -> None:
    with pytest.raises(ValueError, match="keeps nothing"):
        apply_policy(THREE_DAYS, RetentionPolicy())
    with pytest.raises(ValueError):
        RetentionPolicy(daily=-2)
