"""Which snapshots a retention policy keeps: a pure function, table-tested.

Semantics follow restic's `forget` (borg's `prune` agrees on the buckets):
- snapshots are grouped (by default by host and source paths) and each group is judged alone;
- within a group, newest first, each `keep_<period>=N` rule keeps the newest snapshot of each of
  the N most recent periods that have one (hour, day, ISO week, month, year), `keep_last=N` the
  N newest; -1 means "every period";
- a rule that still has count left when the oldest snapshot is reached keeps that oldest one
  too, so a young repository keeps its full history;
- `keep_within` keeps everything younger than that duration, measured from the newest snapshot
  (not from now, so a host that stopped backing up does not lose its last snapshots to a clock);
- `keep_tags` keeps every snapshot carrying any of those tags;
- rules are ORed: a snapshot is kept when any rule keeps it.
One guard beyond restic: the newest snapshot of every group is always kept, so no policy can
forget the only recent copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

UNLIMITED = -1


@dataclass(frozen=True)
class RetentionPolicy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    tags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            value = getattr(self, name)
            if value < UNLIMITED:
                raise ValueError(f"keep-{name} must be a count >= 0, or -1 for all")

    @property
    def empty(self) -> bool:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        return all(c == 0 for c in counts) and not self.within and not self.tags

    def describe(self) -> str:
        parts = [
            f"{'all' if value == UNLIMITED else value} {name}"
            for name, value in (
                ("last", self.last),
                ("hourly", self.hourly),
                ("daily", self.daily),
                ("weekly", self.weekly),
                ("monthly", self.monthly),
                ("yearly", self.yearly),
            )
            if value
        ]
        if self.within:
            parts.append(f"everything within {self.within} of the newest")
        if self.tags:
            parts.append(f"tags {', '.join(sorted(self.tags))}")
        return "keep " + ", ".join(parts) if parts else "no policy"


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    time: datetime  # timezone-aware
    hostname: str = ""
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    snapshot: SnapshotInfo
    keep: bool
    reasons: tuple[str, ...]
    group: str


def _hour(t: datetime) -> int:
    return t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour


def _day(t: datetime) -> int:
    return t.year * 10_000 + t.month * 100 + t.day


def _week(t: datetime) -> int:
    year, week, _ = t.isocalendar()
    return year * 100 + week


def _month(t: datetime) -> int:
    return t.year * 100 + t.month


def _year(t: datetime) -> int:
    return t.year


GROUP_FIELDS = ("host", "paths", "tags")


def group_key(info: SnapshotInfo, by: Sequence[str]) -> str:
    parts = []
    for name in by:
        if name == "host":
            parts.append(f"host={info.hostname}")
        elif name == "paths":
            parts.append(f"paths={','.join(sorted(info.paths))}")
        elif name == "tags":
            parts.append(f"tags={','.join(sorted(info.tags))}")
        else:
            raise ValueError(f"unknown group field {name!r}; use {', '.join(GROUP_FIELDS)}")
    return " ".join(parts)


def _judge_group(
    snapshots: Sequence[SnapshotInfo], policy: RetentionPolicy, tz: tzinfo, group: str, now: datetime
) -> list[Decision]:
    ordered = sorted(snapshots, key=lambda s: (s.time, s.id), reverse=True)
    if not ordered:
        return []
    rules: list[tuple[str, int, Callable[[datetime], int] | None]] = [
        ("last", policy.last, None),
        ("hourly", policy.hourly, _hour),
        ("daily", policy.daily, _day),
        ("weekly", policy.weekly, _week),
        ("monthly", policy.monthly, _month),
        ("yearly", policy.yearly, _year),
    ]
    remaining = [count for _name, count, _fn in rules]
    last_bucket: list[int | None] = [None] * len(rules)
    not_future = [s.time for s in ordered if s.time <= now]
    newest_time = max(not_future) if not_future else ordered[-1].time
    decisions: list[Decision] = []
    for position, snap in enumerate(ordered):
        reasons: list[str] = []
        local = snap.time.astimezone(tz)
        oldest = position == len(ordered) - 1
        if position == 0:
            reasons.append("newest")
        matched_tags = sorted(policy.tags.intersection(snap.tags))
        if matched_tags:
            reasons.append(f"tag {', '.join(matched_tags)}")
        if policy.within and snap.time > newest_time - policy.within:
            reasons.append(f"within {policy.within}")
        for i, (name, _count, bucket_of) in enumerate(rules):
            if remaining[i] == 0:
                continue
            bucket = position if bucket_of is None else bucket_of(local)
            new_period = bucket != last_bucket[i]
            if new_period or oldest:
                last_bucket[i] = bucket
                if remaining[i] > 0:
                    remaining[i] -= 1
                reasons.append(name if new_period else f"{name} (oldest)")
        decisions.append(Decision(snap, bool(reasons), tuple(reasons), group))
    return decisions


def apply_policy(
    snapshots: Sequence[SnapshotInfo],
    policy: RetentionPolicy,
    *,
    group_by: Sequence[str] = ("host", "paths"),
    tz: tzinfo = UTC,
    now: datetime | None = None,
) -> list[Decision]:
    """A keep/forget decision with reasons for every snapshot. Raises ValueError on an empty policy."""
    if policy.empty:
        raise ValueError("the retention policy keeps nothing; give at least one keep rule")
    current = now or datetime.now(UTC)
    groups: dict[str, list[SnapshotInfo]] = {}
    for snap in snapshots:
        groups.setdefault(group_key(snap, group_by), []).append(snap)
    out: list[Decision] = []
    for key in sorted(groups):
        out.extend(_judge_group(groups[key], policy, tz, key, current))
    return out
