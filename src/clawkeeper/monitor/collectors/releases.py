"""`releases`: is a newer OpenClaw out on the agent's channel, and is a security fix waiting?

- The running version is what the gateway's `/startupz` says (falling back to the installed
  package's `package.json` when the gateway is down); the channel is `update.channel` in
  openclaw.json (default `stable`; `dev` builds from git and is not tracked here).
- The channel's newest release comes from the npm registry through `runbook.releases`
  (`ReleaseSource`, cached on disk for `releases.cache_ttl`).
- A newer release on the channel is a *security release* when its release notes
  (`CHANGELOG/<version>.md` in openclaw/openclaw; betas map to their stable base) have a
  `Security` heading or name a CVE/GHSA advisory or a vulnerability — or when npm marks the
  running version deprecated for a security reason. Notes are fetched once per version and the
  answer kept in `release-security.json` in the cache directory; notes that cannot be fetched count
  as "not security" until they can.
- `update_security_patch_pending_seconds` is the time since clawkeeper first saw the oldest
  unapplied security release (kept in the same file; clawkeeper cannot know sooner), 0 when none.

All network calls happen here, at this collector's slow interval (default hourly), with short
timeouts; a registry that cannot be reached and no cached facts fail this collector only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw import install
from clawkeeper.agent.openclaw.versions import OpenClawVersion, is_newer, parse_version, try_parse_version
from clawkeeper.config import ReleasesSettings
from clawkeeper.effects import http
from clawkeeper.effects.fs import atomic_write_json
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import CollectorError, gauge, info
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample
from clawkeeper.runbook.releases import RegistryFacts, ReleaseSource, summarize

NOTES_URL = "https://raw.githubusercontent.com/openclaw/openclaw/main/CHANGELOG/{base}.md"
NOTES_TIMEOUT_S = 10.0
NOTES_RECHECK_S = 24 * 3600.0  # a release's notes may be completed after it ships
NOTES_RETRY_S = 3600.0  # after a failed fetch
MAX_NOTES_PER_RUN = 10
STATE_FORMAT = 1
_SECURITY_RE = re.compile(
    r"^#{2,4}\s*security\b|\bCVE-\d{4}-\d{3,}|\bGHSA(?:-[0-9a-z]{4}){3}\b|\bvulnerab",
    re.IGNORECASE | re.MULTILINE,
)
_DEPRECATED_SECURITY_RE = re.compile(r"secur|vulnerab|CVE-|GHSA-", re.IGNORECASE)

METRICS: tuple[MetricInfo, ...] = (
    info("update_available", "1 when a newer release than the running one is out on the agent's channel."),
    info(
        "update_security_patch_pending_seconds",
        "Seconds since clawkeeper first saw the oldest unapplied security release (0: none).",
        unit="seconds",
    ),
)


def is_security_notes(text: str) -> bool:
    """Do release notes announce a security fix? (A `### Security` heading, a CVE or GHSA id, or
    the word vulnerability.)"""
    return _SECURITY_RE.search(text) is not None


def notes_url(version: str) -> str:
    return NOTES_URL.format(base=parse_version(version).base)


def channel_versions(facts: RegistryFacts, channel: str, running: str, head: str) -> list[OpenClawVersion]:
    """Releases newer than `running` up to the channel's `head`, of the kinds the channel ships."""
    current, newest = parse_version(running), parse_version(head)
    out = []
    for text in facts.engines:
        version = try_parse_version(text)
        if version is None or not current < version <= newest:
            continue
        if channel != "beta" and version.is_prerelease:
            continue
        out.append(version)
    return sorted(out)


@dataclass
class SecurityState:
    """What is remembered between runs (and keeper restarts) in `release-security.json`."""

    notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> {security, checked_at}
    first_seen: dict[str, float] = field(default_factory=dict)  # security release -> first seen

    @classmethod
    def load(cls, path: Path) -> SecurityState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            return cls()
        notes = data.get("notes")
        seen = data.get("first_seen")
        notes = notes if isinstance(notes, dict) else {}
        seen = seen if isinstance(seen, dict) else {}
        return cls(
            notes={str(k): v for k, v in notes.items() if isinstance(v, dict)},
            first_seen={str(k): float(v) for k, v in seen.items() if isinstance(v, int | float)},
        )

    def save(self, path: Path) -> None:
        atomic_write_json(
            path, {"format": STATE_FORMAT, "notes": self.notes, "first_seen": self.first_seen}, mode=0o644
        )


Fetch = Callable[[str], str | None]
"""GET a URL, returning its text on HTTP 200 and None otherwise (never raises for the network)."""


def http_fetch(url: str) -> str | None:
    response = http.get(url, timeout=NOTES_TIMEOUT_S)
    if isinstance(response, http.HttpFailure) or response.status != 200:
        return None
    return response.text


class ReleasesCollector:
    name = "releases"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(
        self,
        *,
        facts: Callable[[], tuple[RegistryFacts | None, bool, str | None]],
        running_version: Callable[[], str | None],
        channel: Callable[[], str],
        state_file: Path,
        fetch: Fetch = http_fetch,
        registry: str = "https://registry.npmjs.org",
        package: str = "openclaw",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._facts = facts
        self._running = running_version
        self._channel = channel
        self._state_file = state_file
        self._fetch = fetch
        self._registry = registry.rstrip("/")
        self._package = package
        self._clock = clock

    @classmethod
    def for_agent(cls, link: AgentLink, releases: ReleasesSettings, cache_dir: Path) -> ReleasesCollector:
        source = ReleaseSource(releases, cache_dir)
        return cls(
            facts=source.facts,
            running_version=lambda: running_version(link),
            channel=lambda: agent_channel(link),
            state_file=cache_dir / "release-security.json",
            registry=releases.registry,
            package=releases.package,
        )

    def collect(self, ctx: CollectContext) -> list[Sample]:
        now = ctx.now
        running = self._running()
        if running is None or try_parse_version(running) is None:
            raise CollectorError(
                "the running OpenClaw version is unknown (gateway down and no package.json found)",
                hint="check `clawkeeper status`",
            )
        channel = self._channel()
        facts, _stale, error = self._facts()
        if facts is None:
            raise CollectorError(
                f"no release information: {error}", hint="check network access to the npm registry"
            )
        heads = {c.channel: c.version for c in summarize(facts, node_version=None).channels}
        head = heads.get(channel)
        if head is None or try_parse_version(head) is None:
            return [gauge("update_available", 0, now), gauge("update_security_patch_pending_seconds", 0, now)]
        newer = channel_versions(facts, channel, running, head)
        state = SecurityState.load(self._state_file)
        security = self._classify([v.text for v in newer], state)
        if newer and self._running_deprecated_for_security(running):
            security.append(f"deprecated:{running}")
        for version in security:
            state.first_seen.setdefault(version, now)
        pending = min((state.first_seen[v] for v in security), default=None)
        # forget what was applied: keep only the releases still ahead of the running one
        state.first_seen = {v: t for v, t in state.first_seen.items() if v in security}
        state.notes = {v: n for v, n in state.notes.items() if v in {x.text for x in newer}}
        state.save(self._state_file)
        return [
            gauge("update_available", 1 if is_newer(head, running) else 0, now),
            gauge("update_security_patch_pending_seconds", max(0.0, now - pending) if pending else 0.0, now),
        ]

    def _classify(self, versions: Sequence[str], state: SecurityState) -> list[str]:
        """The security releases among `versions` (oldest first), fetching at most
        MAX_NOTES_PER_RUN release notes per run; a failed fetch keeps the earlier verdict."""
        now = self._clock()
        fetches = 0
        security: list[str] = []
        for version in versions:
            known = state.notes.get(version)
            due = known is None or now - float(known.get("checked_at", 0)) >= (
                NOTES_RETRY_S if known.get("failed") or known.get("security") is None else NOTES_RECHECK_S
            )
            if due and fetches < MAX_NOTES_PER_RUN:
                fetches += 1
                text = self._fetch(notes_url(version))
                if text is not None:
                    known = {"security": is_security_notes(text), "checked_at": now}
                else:
                    earlier = known.get("security") if known else None
                    known = {"security": earlier, "checked_at": now, "failed": True}
                state.notes[version] = known
            if known is not None and known.get("security") is True:
                security.append(version)
        return security

    def _running_deprecated_for_security(self, running: str) -> bool:
        text = self._fetch(f"{self._registry}/{self._package}/{running}")
        if text is None:
            return False
        try:
            manifest = json.loads(text)
        except ValueError:
            return False
        deprecated = manifest.get("deprecated") if isinstance(manifest, dict) else None
        return isinstance(deprecated, str) and _DEPRECATED_SECURITY_RE.search(deprecated) is not None


def agent_channel(link: AgentLink) -> str:
    update = link.config().get("update")
    channel = update.get("channel") if isinstance(update, dict) else None
    return channel if isinstance(channel, str) and channel else "stable"


def running_version(link: AgentLink) -> str | None:
    """The gateway's version from /startupz; the installed package's when the gateway is down."""
    response = http.get(f"{link.http_base()}/startupz", timeout=5.0)
    if not isinstance(response, http.HttpFailure):
        body = response.json_or_none()
        if isinstance(body, dict) and isinstance(body.get("version"), str):
            return str(body["version"])
    root = install.resolve_package_root(link.target().binary)
    if root is None:
        return None
    try:
        data = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None
