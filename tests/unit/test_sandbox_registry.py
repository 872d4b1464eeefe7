"""Resolving `--version` against a fake npm registry served on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from clawkeeper.agent.sandbox.registry import RegistryClient, nearby_versions
from clawkeeper.config import ReleasesSettings
from clawkeeper.errors import EnvironmentProblem, ExitCode, NotFound
from tests.support.httpserver import Routes, serve

VERSIONS = [
    "2026.7.33",
    "2026.7.34",
    "2026.8.1",
    "2026.8.2",
    "2026.9.1",
    "2026.9.5",
    "2026.9.6",
    "2026.10.1-beta.1",
]


def manifest(version: str, node: str) -> dict[str, object]:
    return {"name": "openclaw", "version": version, "engines": {"node": node}}


@pytest.fixture
def registry() -> Iterator[tuple[str, Routes]]:
    routes = Routes()
    routes["/-/package/openclaw/dist-tags"] = (200, {"latest": "2026.9.6", "beta": "2026.10.1-beta.1"})
    routes["/openclaw/2026.9.6"] = (200, manifest("2026.9.6", ">=24.16.0 <25 || >=26.1.0"))
    routes["/openclaw/2026.8.2"] = (200, manifest("2026.8.2", ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0"))
    routes["/openclaw/2026.10.1-beta.1"] = (200, manifest("2026.10.1-beta.1", ">=26.1.0"))
    routes["/openclaw"] = (200, {"name": "openclaw", "versions": {v: {} for v in VERSIONS}})
    with serve(routes) as url:
        yield url, routes


def client(url: str) -> RegistryClient:
    return RegistryClient(ReleasesSettings(registry=url, timeout=5))


def test_a_dist_tag_resolves_to_a_concrete_version_with_its_node_range(registry: tuple[str, Routes]) -> None:
    url, routes = registry
    release = client(url).resolve("latest")
    assert (release.requested, release.version) == ("latest", "2026.9.6")
    assert release.node_range == ">=24.16.0 <25 || >=26.1.0"
    assert [path for path, _ in routes.requests] == ["/-/package/openclaw/dist-tags", "/openclaw/2026.9.6"]


def test_beta_tag_resolves_too(registry: tuple[str, Routes]) -> None:
    url, _ = registry
    assert client(url).resolve("beta").version == "2026.10.1-beta.1"


def test_an_exact_version_skips_the_dist_tags(registry: tuple[str, Routes]) -> None:
    url, routes = registry
    release = client(url).resolve("2026.8.2")
    assert release.version == "2026.8.2"
    assert release.node_range is not None and ">=24.15.0 <25" in release.node_range
    assert [path for path, _ in routes.requests] == ["/openclaw/2026.8.2"]


def test_an_unknown_version_lists_the_versions_nearby(registry: tuple[str, Routes]) -> None:
    url, _ = registry
    with pytest.raises(NotFound) as caught:
        client(url).resolve("2026.8.3")
    assert caught.value.exit_code == ExitCode.NOT_FOUND
    assert "openclaw@2026.8.3 does not exist" in caught.value.message
    hint = caught.value.hint or ""
    assert "2026.8.2" in hint and "2026.9.1" in hint


def test_an_unknown_dist_tag_lists_the_tags(registry: tuple[str, Routes]) -> None:
    url, _ = registry
    with pytest.raises(NotFound) as caught:
        client(url).resolve("stable-ish")
    assert "latest=2026.9.6" in (caught.value.hint or "")


def test_an_unreachable_registry_is_an_environment_problem() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(EnvironmentProblem, match="cannot reach the npm registry"):
        client(f"http://127.0.0.1:{port}").resolve("latest")


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("2026.8.3", ["2026.8.1", "2026.8.2", "2026.9.1", "2026.9.5"]),  # around where it would be
        ("2020.1.1", ["2026.7.33", "2026.7.34", "2026.8.1", "2026.8.2"]),  # the oldest
        ("2030.1.1", ["2026.8.2", "2026.9.1", "2026.9.5", "2026.9.6"]),  # the newest
        ("nonsense", ["2026.8.2", "2026.9.1", "2026.9.5", "2026.9.6"]),  # not a version: the newest
    ],
)
def test_nearby_versions_window(wanted: str, expected: list[str]) -> None:
    stable = [v for v in VERSIONS if "beta" not in v]
    assert nearby_versions(stable, wanted, count=4) == expected
