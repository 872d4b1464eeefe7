from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from clawkeeper.config import ReleasesSettings
from clawkeeper.runbook.releases import (
    RegistryFacts,
    ReleaseSource,
    node_satisfies,
    parse_registry_document,
    summarize,
)
from tests.support.httpserver import Routes, serve

NODE_24 = ">=24.16.0 <25 || >=26.1.0"
NODE_22 = ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0"

DOC = {
    "dist-tags": {"latest": "2026.9.6", "beta": "2026.10.5-beta.2"},
    "versions": {
        "2026.7.35": {"engines": {"node": NODE_22}},
        "2026.8.2": {"engines": {"node": NODE_22}},
        "2026.9.5": {"engines": {"node": NODE_24}},
        "2026.9.6": {"engines": {"node": NODE_24}},
        "2026.9.6-1": {"engines": {"node": NODE_24}},
        "2026.10.5-beta.2": {"engines": {"node": NODE_24}},
        "not-a-version": {},
    },
}


def facts(doc: dict = DOC) -> RegistryFacts:  # type: ignore[type-arg]
    return parse_registry_document("openclaw", doc, fetched_at=1.0)


@pytest.mark.parametrize(
    ("node", "rng", "expected"),
    [
        ("v24.19.0", NODE_24, True),
        ("24.15.0", NODE_24, False),
        ("25.0.0", NODE_24, False),
        ("26.1.0", NODE_24, True),
        ("v20.20.2", NODE_22, False),
        ("22.22.3", NODE_22, True),
        ("24.19.0", None, True),
        ("garbage", NODE_24, None),
    ],
)
def test_node_satisfies(node: str, rng: str | None, expected: bool | None) -> None:
    assert node_satisfies(node, rng) is expected


def test_channels_and_newest_for_node() -> None:
    report = summarize(facts(), node_version="v24.19.0")
    channels = {c.channel: c for c in report.channels}
    assert channels["stable"].version == "2026.9.6"
    assert channels["stable"].node_range == NODE_24
    assert channels["beta"].version == "2026.10.5-beta.2"
    assert channels["extended-stable"].version == "2026.7.35"
    assert channels["extended-stable"].source == "derived"
    # the correction release 2026.9.6-1 is stable and newer than 2026.9.6
    assert report.newest_for_node == "2026.9.6-1"


def test_old_node_gets_the_newest_release_it_can_run() -> None:
    assert summarize(facts(), node_version="22.22.3").newest_for_node == "2026.8.2"
    assert summarize(facts(), node_version="18.0.0").newest_for_node is None


def test_beta_falls_back_to_latest_when_older() -> None:
    doc = {**DOC, "dist-tags": {"latest": "2026.9.6", "beta": "2026.9.5"}}
    report = summarize(facts(doc), node_version=None)
    beta = next(c for c in report.channels if c.channel == "beta")
    assert (beta.version, beta.source) == ("2026.9.6", "dist-tag:latest")


def test_source_fetches_caches_and_serves_stale_when_offline(tmp_path: Path) -> None:
    routes = Routes()
    routes["/openclaw"] = (200, DOC)
    with serve(routes) as base:
        settings = ReleasesSettings(registry=base, cache_ttl=3600)
        source = ReleaseSource(settings, tmp_path)
        report = source.report("24.19.0")
        assert report.error is None
        assert report.newest_for_node == "2026.9.6-1"
        source.report("24.19.0")  # served from cache
        assert len(routes.requests) == 1
        assert routes.requests[0][1].get("Accept") == "application/vnd.npm.install-v1+json"
    # registry gone: an expired cache is still served, marked stale, with the reason
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cache_file = tmp_path / "registry-openclaw.json"
    text = cache_file.read_text().replace(base, dead)
    cache_file.write_text(text)
    offline = ReleaseSource(ReleasesSettings(registry=dead, cache_ttl=0, timeout=2), tmp_path)
    time.sleep(0.01)
    report = offline.report("24.19.0")
    assert report.stale is True
    assert report.error is not None and "unreachable" in report.error
    assert report.newest_for_node == "2026.9.6-1"


def test_source_without_cache_reports_error(tmp_path: Path) -> None:
    routes = Routes()
    routes["/openclaw"] = (500, "oops")
    with serve(routes) as base:
        report = ReleaseSource(ReleasesSettings(registry=base), tmp_path).report(None)
    assert report.channels == ()
    assert report.error == f"registry answered HTTP 500 for {base}/openclaw"
