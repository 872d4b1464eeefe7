"""Cron expressions in a time zone.

Five fields (minute hour day-of-month month day-of-week) or an alias (`@hourly`, `@daily`,
`@weekly`, `@monthly`, `@yearly`). Fire times come from cronsim, which treats daylight-saving
transitions the way Debian's cron does for jobs at a fixed time of day: a time skipped when the
clocks spring forward (02:30 in Europe/Berlin on the last Sunday of March) runs once, at the first
minute that exists (03:00); a time that happens twice when they fall back runs once, the first
time. Jobs with `*` in the minute or hour field follow real elapsed time instead.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
CRON_HINT = "five fields: minute hour day-of-month month day-of-week (e.g. '0 */4 * * *'), or @daily"
_MAX_CANDIDATES = 1000  # candidates examined per lookup; DST can make a few land in the past


def normalize(expr: str) -> str:
    """The five-field form of `expr` (aliases expanded, whitespace collapsed)."""
    text = " ".join(expr.split())
    return ALIASES.get(text.lower(), text)


def check_cron(expr: str) -> str:
    """Raise ValueError saying what is wrong with `expr`; returns its five-field form."""
    from cronsim import CronSim, CronSimError

    text = normalize(expr)
    fields = len(text.split())
    if fields != 5:
        raise ValueError(f"{fields} fields where cron expressions here have {CRON_HINT}")
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError as exc:
        raise ValueError(f"not a cron expression ({exc}); use {CRON_HINT}") from None
    return text


def check_timezone(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError when there is no such IANA time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not an IANA time zone; use a name such as 'Europe/Berlin' or 'UTC' "
            "(`timedatectl list-timezones` lists them)"
        ) from None


def host_timezone() -> tuple[tzinfo, str]:
    """The host's local zone with its daylight-saving rules, and its name for display.

    `$TZ` first, then the target of /etc/localtime, then /etc/timezone, then the rules in
    /etc/localtime without a name; UTC when none of them says anything.
    """
    candidates: list[str] = []
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        candidates.append(env)
    localtime = Path("/etc/localtime")
    try:
        parts = localtime.resolve(strict=True).parts
    except OSError:
        parts = ()
    if "zoneinfo" in parts:
        candidates.append("/".join(parts[parts.index("zoneinfo") + 1 :]))
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                return ZoneInfo(name), name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    try:
        with localtime.open("rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime"), "localtime"
    except (OSError, ValueError):
        return ZoneInfo("UTC"), "UTC"


def resolve_timezone(name: str | None) -> tuple[tzinfo, str]:
    """The configured zone (validated), or the host's when `name` is None."""
    if name is None:
        return host_timezone()
    return check_timezone(name), name


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression bound to a time zone."""

    expr: str  # five-field form
    tz: tzinfo

    @classmethod
    def parse(cls, expr: str, tz: tzinfo) -> CronSchedule:
        return cls(check_cron(expr), tz)

    def next_after(self, ts: float) -> float | None:
        """The first fire time strictly after Unix time `ts`; None if it never fires again."""
        from cronsim import CronSim

        start = datetime.fromtimestamp(ts, self.tz)
        # cronsim walks local wall-clock time for fixed-time jobs, so right after a fall-back it
        # can offer the first pass of a repeated hour again: skip anything not after `ts`.
        for index, candidate in enumerate(CronSim(self.expr, start)):
            fire = candidate.timestamp()
            if fire > ts:
                return fire
            if index >= _MAX_CANDIDATES:
                break
        return None

    def describe(self, ts: float) -> str:
        """`ts` as local time in this schedule's zone, e.g. '2026-03-29 03:00 CEST'."""
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M %Z")
