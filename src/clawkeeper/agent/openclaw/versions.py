"""OpenClaw version numbers: parsing, ordering and release channels, as pure functions.

OpenClaw versions look like semver but do not order like it:

- `YYYY.M.PATCH` is a stable release; PATCH is a release train number, and PATCH >= 33 marks the
  monthly extended-stable line (npm dist-tag `extended-stable`).
- `YYYY.M.PATCH-N` is a *correction* release: stable, and NEWER than `YYYY.M.PATCH`, although
  semver would call `-N` a prerelease and sort it first.
- `YYYY.M.PATCH-beta.N` and `YYYY.M.PATCH-alpha.N` are prereleases, older than `YYYY.M.PATCH`
  (alpha before beta).

Everything here is pure so the update runbook and `status` can rely on one ordering.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

EXTENDED_STABLE_MIN_PATCH = 33

_VERSION_RE = re.compile(
    r"""
    ^v?
    (?P<year>\d{4})\.(?P<month>\d{1,2})\.(?P<patch>\d+)
    (?:-(?:
        (?P<correction>\d+)
      | (?P<pre>alpha|beta)\.(?P<pre_n>\d+)
    ))?
    $""",
    re.VERBOSE,
)

# `openclaw --version` prints "OpenClaw 2026.9.6 (eb377ac)" or "OpenClaw 2026.9.6".
_CLI_VERSION_RE = re.compile(r"^OpenClaw\s+(?P<version>\S+)(?:\s+\((?P<commit>[0-9a-fA-F]+)\))?\s*$")


class InvalidVersion(ValueError):
    """Text that is not an OpenClaw version; the message quotes it."""


class ReleaseKind(IntEnum):
    """Kinds of release for one base version, in ascending order of recency."""

    ALPHA = 0
    BETA = 1
    STABLE = 2
    CORRECTION = 3


class Channel(StrEnum):
    """The npm dist-tag lines a version belongs to."""

    STABLE = "stable"
    EXTENDED_STABLE = "extended-stable"
    BETA = "beta"
    ALPHA = "alpha"


@dataclass(frozen=True, order=True)
class OpenClawVersion:
    """A parsed version; instances compare by release recency, not by text."""

    sort_key: tuple[int, int, int, int, int] = field(repr=False)
    text: str = field(compare=False)
    year: int = field(compare=False)
    month: int = field(compare=False)
    patch: int = field(compare=False)
    kind: ReleaseKind = field(compare=False)
    number: int | None = field(compare=False)  # N of -N, -beta.N, -alpha.N

    @property
    def base(self) -> str:
        return f"{self.year}.{self.month}.{self.patch}"

    @property
    def is_prerelease(self) -> bool:
        return self.kind in (ReleaseKind.ALPHA, ReleaseKind.BETA)

    @property
    def is_stable(self) -> bool:
        """Stable and correction releases (including the extended-stable line)."""
        return not self.is_prerelease

    @property
    def is_extended_stable(self) -> bool:
        return self.is_stable and self.patch >= EXTENDED_STABLE_MIN_PATCH

    @property
    def channel(self) -> Channel:
        if self.kind is ReleaseKind.ALPHA:
            return Channel.ALPHA
        if self.kind is ReleaseKind.BETA:
            return Channel.BETA
        return Channel.EXTENDED_STABLE if self.is_extended_stable else Channel.STABLE

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> OpenClawVersion:
    """Parse `2026.9.6`, `v2026.7.1-2`, `2026.10.5-beta.2`, ... Raises InvalidVersion otherwise."""
    candidate = text.strip()
    match = _VERSION_RE.match(candidate)
    if match is None:
        raise InvalidVersion(
            f"not an OpenClaw version: {text!r} (expected YYYY.M.PATCH, -N, -beta.N or -alpha.N)"
        )
    year, month, patch = int(match["year"]), int(match["month"]), int(match["patch"])
    if not 1 <= month <= 12:
        raise InvalidVersion(f"not an OpenClaw version: {text!r} (month {month} is out of range)")
    kind = ReleaseKind.STABLE
    number: int | None = None
    if match["correction"] is not None:
        kind, number = ReleaseKind.CORRECTION, int(match["correction"])
    elif match["pre"] is not None:
        kind = ReleaseKind.ALPHA if match["pre"] == "alpha" else ReleaseKind.BETA
        number = int(match["pre_n"])
    canonical = candidate.removeprefix("v")
    return OpenClawVersion(
        sort_key=(year, month, patch, int(kind), number or 0),
        text=canonical,
        year=year,
        month=month,
        patch=patch,
        kind=kind,
        number=number,
    )


def try_parse_version(text: str | None) -> OpenClawVersion | None:
    """Like parse_version, but None for anything that is not a version (dist-tags, garbage)."""
    if text is None:
        return None
    try:
        return parse_version(text)
    except InvalidVersion:
        return None


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version `a` is older than, the same as, or newer than `b`."""
    left, right = parse_version(a), parse_version(b)
    return (left > right) - (left < right)


def is_newer(candidate: str, current: str) -> bool:
    return compare_versions(candidate, current) > 0


def sort_versions(versions: Iterable[str], *, skip_invalid: bool = True) -> list[OpenClawVersion]:
    """Oldest first. Unparseable entries are dropped (registries list odd tags) unless told not to."""
    parsed: list[OpenClawVersion] = []
    for text in versions:
        if skip_invalid:
            version = try_parse_version(text)
            if version is not None:
                parsed.append(version)
        else:
            parsed.append(parse_version(text))
    return sorted(parsed)


def newest_per_channel(versions: Iterable[str]) -> dict[Channel, OpenClawVersion]:
    """The newest release of each channel present in `versions` (channels with none are absent)."""
    newest: dict[Channel, OpenClawVersion] = {}
    for version in sort_versions(versions):
        newest[version.channel] = version  # ascending order: the last one seen wins
    return newest


@dataclass(frozen=True)
class CliVersion:
    version: str
    commit: str | None


def parse_cli_version(output: str) -> CliVersion | None:
    """Read `openclaw --version` output; None when it is not in the known shape.

    The version text is kept even when it is not a parseable OpenClaw version (a dev build may
    print something else); callers order it with try_parse_version.
    """
    for line in output.strip().splitlines():
        match = _CLI_VERSION_RE.match(line.strip())
        if match:
            return CliVersion(version=match["version"], commit=match["commit"])
    return None
