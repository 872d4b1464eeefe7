"""Resolve what the user asked for (`2026.8.2`, `latest`, `beta`) to one concrete release.

We ask the npm registry over HTTP, not `npm view`, so this works before any Node is chosen and a
test can serve a fake registry on 127.0.0.1. Two small documents are enough: the dist-tags
(`/-/package/<pkg>/dist-tags`) and one version's manifest (`/<pkg>/<version>`), which carries
`engines.node`. Only when a version does not exist do we read the (large) version list, to name
the versions nearby.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from clawkeeper.agent.openclaw.versions import sort_versions, try_parse_version
from clawkeeper.config import ReleasesSettings
from clawkeeper.effects import http
from clawkeeper.errors import AgentProtocolError, EnvironmentProblem, NotFound


@dataclass(frozen=True)
class Release:
    requested: str  # what the user typed
    version: str  # the concrete version it resolved to
    node_range: str | None  # engines.node; None when the package does not say
    source: str  # "registry" or "installed" (read from an installed package.json, offline)

    def to_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "version": self.version,
            "node_range": self.node_range,
            "source": self.source,
        }


def is_exact_version(spec: str) -> bool:
    return try_parse_version(spec) is not None


def nearby_versions(known: list[str], wanted: str, *, count: int = 6) -> list[str]:
    """Up to `count` released versions closest to `wanted` in release order (pure).

    For something that is not a version at all (a mistyped dist-tag), the newest ones.
    """
    ordered = [str(v) for v in sort_versions(known)]
    if not ordered:
        return []
    parsed = try_parse_version(wanted)
    if parsed is None:
        return ordered[-count:]
    keys = [v.sort_key for v in sort_versions(ordered)]
    at = bisect.bisect_left(keys, parsed.sort_key)
    start = max(0, min(at - count // 2, len(ordered) - count))
    return ordered[start : start + count]


class RegistryClient:
    """The three registry reads the lab needs, with clawkeeper's errors."""

    def __init__(self, settings: ReleasesSettings) -> None:
        self.settings = settings
        self.base = settings.registry.rstrip("/")
        self.package = settings.package

    def _get_json(self, url: str, *, accept: str = "application/json") -> tuple[int, Any]:
        response = http.get(url, timeout=self.settings.timeout, headers={"Accept": accept})
        if isinstance(response, http.HttpFailure):
            raise EnvironmentProblem(
                f"cannot reach the npm registry at {self.base}: {response.reason}",
                hint="check the network, or set releases.registry in clawkeeper.toml to a reachable mirror",
            )
        if response.status == 404:
            return 404, None
        if response.status != 200:
            raise EnvironmentProblem(
                f"the npm registry answered HTTP {response.status} for {url}",
                hint="retry later, or set releases.registry to another registry",
            )
        body = response.json_or_none()
        if body is None:
            raise AgentProtocolError(f"the npm registry sent something that is not JSON for {url}")
        return 200, body

    def dist_tags(self) -> dict[str, str]:
        status, body = self._get_json(f"{self.base}/-/package/{quote(self.package, safe='@')}/dist-tags")
        if status == 404 or not isinstance(body, dict):
            raise NotFound(f"the npm registry has no package {self.package!r}")
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str)}

    def manifest(self, version: str) -> dict[str, Any] | None:
        status, body = self._get_json(f"{self.base}/{quote(self.package, safe='@')}/{quote(version)}")
        if status == 404:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise AgentProtocolError(f"the registry manifest of {self.package}@{version} has no version")
        return body

    def all_versions(self) -> list[str]:
        status, body = self._get_json(
            f"{self.base}/{quote(self.package, safe='@')}",
            accept="application/vnd.npm.install-v1+json",
        )
        versions = body.get("versions") if status == 200 and isinstance(body, dict) else None
        return [str(v) for v in versions] if isinstance(versions, dict) else []

    def resolve(self, spec: str) -> Release:
        """`spec` (a version or a dist-tag) -> Release. Raises NotFound naming what does exist."""
        version = spec
        if not is_exact_version(spec):
            tags = self.dist_tags()
            if spec not in tags:
                listed = ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "none"
                raise NotFound(
                    f"{self.package} has no version or dist-tag {spec!r}",
                    hint=f"dist-tags: {listed}; or pass a version such as {tags.get('latest', '2026.9.6')}",
                )
            version = tags[spec]
        manifest = self.manifest(version)
        if manifest is None:
            near = nearby_versions(self.all_versions(), version)
            raise NotFound(
                f"{self.package}@{version} does not exist on {self.base}",
                hint=("versions nearby: " + ", ".join(near)) if near else "check the version number",
            )
        return Release(
            requested=spec,
            version=str(manifest["version"]),
            node_range=node_range_of(manifest),
            source="registry",
        )


def node_range_of(manifest: dict[str, Any]) -> str | None:
    """`engines.node` of a package.json or registry manifest, if it states one."""
    engines = manifest.get("engines")
    if isinstance(engines, dict) and isinstance(engines.get("node"), str) and engines["node"].strip():
        return str(engines["node"]).strip()
    return None
