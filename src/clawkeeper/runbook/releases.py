"""Release intelligence from the npm registry: channels, versions, and which Node each needs.

The registry document for a package lists its dist-tags (`latest` = stable, `beta`,
`extended-stable`) and, per version, `engines.node`. We keep only those facts in a small cache
file so `status` stays fast and works offline after the first look (marked stale when old).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semantic_version

from clawkeeper.agent.openclaw.versions import try_parse_version
from clawkeeper.config import ReleasesSettings
from clawkeeper.effects import http
from clawkeeper.effects.fs import atomic_write_json

CACHE_FORMAT = 1


@dataclass(frozen=True)
class RegistryFacts:
    """What we know about a package's releases."""

    package: str
    dist_tags: dict[str, str]
    engines: dict[str, str | None]  # version -> engines.node range (None when unspecified)
    fetched_at: float


@dataclass(frozen=True)
class ChannelRelease:
    channel: str  # stable | beta | extended-stable
    version: str | None
    source: str  # "dist-tag:<tag>", "derived", or "unavailable"
    node_range: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "version": self.version,
            "source": self.source,
            "node_range": self.node_range,
        }


@dataclass(frozen=True)
class ReleaseReport:
    channels: tuple[ChannelRelease, ...] = ()
    node_version: str | None = None
    newest_for_node: str | None = None  # newest stable release the installed Node can run
    fetched_at: float | None = None
    stale: bool = False  # served from an old cache because the registry did not answer
    error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "channels": {c.channel: c.to_json() for c in self.channels},
            "node_version": self.node_version,
            "newest_for_node": self.newest_for_node,
            "fetched_at": self.fetched_at,
            "stale": self.stale,
            "error": self.error,
        }


def parse_registry_document(package: str, document: Mapping[str, Any], fetched_at: float) -> RegistryFacts:
    tags = document.get("dist-tags")
    versions = document.get("versions")
    if not isinstance(tags, dict) or not isinstance(versions, dict):
        raise ValueError("registry document has no dist-tags/versions")
    engines: dict[str, str | None] = {}
    for version, manifest in versions.items():
        node = None
        if isinstance(manifest, dict):
            eng = manifest.get("engines")
            if isinstance(eng, dict) and isinstance(eng.get("node"), str):
                node = eng["node"]
        engines[str(version)] = node
    return RegistryFacts(
        package=package,
        dist_tags={str(k): str(v) for k, v in tags.items()},
        engines=engines,
        fetched_at=fetched_at,
    )


def node_satisfies(node_version: str, node_range: str | None) -> bool | None:
    """Does Node `node_version` satisfy npm range `node_range`? None when undecidable."""
    if node_range is None:
        return True
    try:
        version = semantic_version.Version(node_version.lstrip("v"))
        return bool(semantic_version.NpmSpec(node_range).match(version))
    except ValueError:
        return None


def _newest(versions: Iterable[str | None]) -> str | None:
    parsed = [v for v in (try_parse_version(t) for t in versions) if v is not None]
    return str(max(parsed)) if parsed else None


def summarize(facts: RegistryFacts, *, node_version: str | None) -> ReleaseReport:
    """Channels and the newest stable version runnable on `node_version` (pure).

    stable = dist-tag `latest`; beta = the newer of `beta` and `latest` (OpenClaw's own rule);
    extended-stable = its dist-tag, else the newest PATCH>=33 release listed (marked "derived").
    """
    stable = facts.dist_tags.get("latest")
    beta_tag = facts.dist_tags.get("beta")
    beta = _newest([beta_tag, stable])
    channels = [
        ChannelRelease(
            "stable",
            stable,
            "dist-tag:latest" if stable else "unavailable",
            facts.engines.get(stable) if stable else None,
        ),
        ChannelRelease(
            "beta",
            beta,
            "unavailable" if beta is None else ("dist-tag:beta" if beta == beta_tag else "dist-tag:latest"),
            facts.engines.get(beta) if beta else None,
        ),
    ]
    extended_tag = facts.dist_tags.get("extended-stable")
    if extended_tag:
        channels.append(
            ChannelRelease(
                "extended-stable", extended_tag, "dist-tag:extended-stable", facts.engines.get(extended_tag)
            )
        )
    else:
        extended = _newest(
            v for v in facts.engines if (p := try_parse_version(v)) is not None and p.is_extended_stable
        )
        channels.append(
            ChannelRelease(
                "extended-stable",
                extended,
                "derived" if extended else "unavailable",
                facts.engines.get(extended) if extended else None,
            )
        )
    newest_for_node: str | None = None
    if node_version:
        newest_for_node = _newest(
            v
            for v, rng in facts.engines.items()
            if (p := try_parse_version(v)) is not None
            and p.is_stable
            and node_satisfies(node_version, rng) is True
        )
    return ReleaseReport(
        channels=tuple(channels),
        node_version=node_version,
        newest_for_node=newest_for_node,
        fetched_at=facts.fetched_at,
    )


class ReleaseSource:
    """Reads registry facts over HTTP with a TTL'd on-disk cache."""

    def __init__(self, settings: ReleasesSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_file = cache_dir / f"registry-{settings.package.replace('/', '_')}.json"

    def _load_cache(self) -> RegistryFacts | None:
        try:
            data = json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return None
        if data.get("format") != CACHE_FORMAT or data.get("registry") != self.settings.registry:
            return None
        return RegistryFacts(
            package=data["package"],
            dist_tags=data["dist_tags"],
            engines=data["engines"],
            fetched_at=float(data["fetched_at"]),
        )

    def _store_cache(self, facts: RegistryFacts) -> None:
        atomic_write_json(
            self.cache_file,
            {
                "format": CACHE_FORMAT,
                "registry": self.settings.registry,
                "package": facts.package,
                "dist_tags": facts.dist_tags,
                "engines": facts.engines,
                "fetched_at": facts.fetched_at,
            },
            mode=0o644,
        )

    def report(self, node_version: str | None, *, refresh: bool = False) -> ReleaseReport:
        """Channels and the newest release for `node_version`; never raises for network trouble."""
        facts, stale, error = self.facts(refresh=refresh)
        if facts is None:
            return ReleaseReport(node_version=node_version, error=error)
        report = summarize(facts, node_version=node_version)
        return ReleaseReport(
            channels=report.channels,
            node_version=report.node_version,
            newest_for_node=report.newest_for_node,
            fetched_at=report.fetched_at,
            stale=stale,
            error=error,
        )

    def facts(self, *, refresh: bool = False) -> tuple[RegistryFacts | None, bool, str | None]:
        """(facts, stale?, error). Fresh cache is used unless `refresh`; old cache if offline."""
        cached = self._load_cache()
        now = time.time()
        if cached and not refresh and now - cached.fetched_at < self.settings.cache_ttl:
            return cached, False, None
        url = f"{self.settings.registry.rstrip('/')}/{self.settings.package}"
        response = http.get(
            url, timeout=self.settings.timeout, headers={"Accept": "application/vnd.npm.install-v1+json"}
        )
        if isinstance(response, http.HttpFailure):
            return cached, cached is not None, f"registry unreachable: {response.reason}"
        if response.status != 200:
            return cached, cached is not None, f"registry answered HTTP {response.status} for {url}"
        try:
            facts = parse_registry_document(self.settings.package, response.json(), now)
        except ValueError as exc:
            return cached, cached is not None, f"registry document not understood: {exc}"
        self._store_cache(facts)
        return facts, False, None
