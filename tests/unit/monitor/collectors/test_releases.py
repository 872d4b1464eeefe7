"""Update availability and pending security releases, with a fake registry and release notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clawkeeper.monitor.collectors.base import CollectorError
from clawkeeper.monitor.collectors.releases import (
    NOTES_RETRY_S,
    ReleasesCollector,
    channel_versions,
    is_security_notes,
    notes_url,
)
from clawkeeper.runbook.releases import RegistryFacts
from tests.unit.monitor.collectors.helpers import ctx, value

VERSIONS = ["2026.9.4", "2026.9.5", "2026.9.6", "2026.10.1-beta.1", "2026.10.1"]
SECURITY_NOTES = "## 2026.10.1\n\n### Security\n\n- Gateway: reject forged origins (GHSA-abcd-1234-wxyz).\n"
PLAIN_NOTES = "## 2026.9.5\n\n### Fixes\n\n- Cron: fix a typo.\n"


def facts(latest: str = "2026.10.1") -> RegistryFacts:
    return RegistryFacts(
        package="openclaw",
        dist_tags={"latest": latest},
        engines={v: ">=24.16" for v in VERSIONS},
        fetched_at=0.0,
    )


class Web:
    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.asked: list[str] = []

    def __call__(self, url: str) -> str | None:
        self.asked.append(url)
        return self.pages.get(url)


def collector(
    tmp_path: Path, web: Web, running: str = "2026.9.4", channel: str = "stable", clock: float = 0.0
) -> ReleasesCollector:
    return ReleasesCollector(
        facts=lambda: (facts(), False, None),
        running_version=lambda: running,
        channel=lambda: channel,
        state_file=tmp_path / "release-security.json",
        fetch=web,
        clock=lambda: clock,
    )


def notes_asked(web: Web) -> set[str]:
    return {url for url in web.asked if "CHANGELOG" in url}


def test_update_available_and_no_security_release(tmp_path: Path) -> None:
    web = Web({notes_url(v): PLAIN_NOTES for v in VERSIONS})
    samples = collector(tmp_path, web).collect(ctx())
    assert value(samples, "update_available") == 1
    assert value(samples, "update_security_patch_pending_seconds") == 0
    assert notes_asked(web) == {notes_url(v) for v in ("2026.9.5", "2026.9.6", "2026.10.1")}


def test_a_security_release_pending_ages_from_when_it_was_first_seen(tmp_path: Path) -> None:
    web = Web({notes_url("2026.10.1"): SECURITY_NOTES})
    assert (
        value(collector(tmp_path, web).collect(ctx(now=1000.0)), "update_security_patch_pending_seconds") == 0
    )
    later = collector(tmp_path, web).collect(ctx(now=1000.0 + 7200))  # a keeper restart in between
    assert value(later, "update_security_patch_pending_seconds") == 7200
    asked = len(web.asked)
    collector(tmp_path, web).collect(ctx(now=1000.0 + 7300))
    assert len(web.asked) == asked + 1  # notes are cached; only the npm deprecation check again


def test_applying_the_update_clears_the_pending_patch(tmp_path: Path) -> None:
    web = Web({notes_url("2026.10.1"): SECURITY_NOTES})
    collector(tmp_path, web).collect(ctx(now=1000.0))
    samples = collector(tmp_path, web, running="2026.10.1").collect(ctx(now=5000.0))
    assert value(samples, "update_available") == 0
    assert value(samples, "update_security_patch_pending_seconds") == 0
    state = json.loads((tmp_path / "release-security.json").read_text())
    assert state["first_seen"] == {}


def test_notes_that_cannot_be_fetched_count_as_not_security_and_are_retried(tmp_path: Path) -> None:
    web = Web({})
    samples = collector(tmp_path, web, clock=1000.0).collect(ctx(now=1000.0))
    assert value(samples, "update_security_patch_pending_seconds") == 0
    web.pages[notes_url("2026.10.1")] = SECURITY_NOTES
    soon = collector(tmp_path, web, clock=1000.0 + 60).collect(ctx(now=1060.0))
    assert value(soon, "update_security_patch_pending_seconds") == 0  # not asked again this soon
    later = collector(tmp_path, web, clock=1000.0 + NOTES_RETRY_S).collect(ctx(now=5000.0))
    after = collector(tmp_path, web, clock=1000.0 + NOTES_RETRY_S).collect(ctx(now=5100.0))
    assert value(later, "update_security_patch_pending_seconds") == 0
    assert value(after, "update_security_patch_pending_seconds") == 100


def test_a_running_version_deprecated_for_security(tmp_path: Path) -> None:
    web = Web(
        {"https://registry.npmjs.org/openclaw/2026.9.4": json.dumps({"deprecated": "security: upgrade now"})}
    )
    samples = collector(tmp_path, web).collect(ctx(now=50.0))
    assert value(samples, "update_security_patch_pending_seconds") == 0
    assert (
        value(collector(tmp_path, web).collect(ctx(now=80.0)), "update_security_patch_pending_seconds") == 30
    )


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("stable", ["2026.9.6", "2026.10.1"]), ("beta", ["2026.9.6", "2026.10.1-beta.1", "2026.10.1"])],
)
def test_releases_ahead_on_the_channel(channel: str, expected: list[str]) -> None:
    assert [v.text for v in channel_versions(facts(), channel, "2026.9.5", "2026.10.1")] == expected


def test_no_registry_facts_fails_the_collector(tmp_path: Path) -> None:
    releases = ReleasesCollector(
        facts=lambda: (None, False, "registry unreachable: timed out"),
        running_version=lambda: "2026.9.6",
        channel=lambda: "stable",
        state_file=tmp_path / "s.json",
        fetch=Web({}),
    )
    with pytest.raises(CollectorError, match="registry unreachable"):
        releases.collect(ctx())


@pytest.mark.parametrize(
    ("notes", "security"),
    [
        (SECURITY_NOTES, True),
        ("### Fixes\n- Fix CVE-2026-12345 in the media fetcher.\n", True),
        ("### Fixes\n- Sandbox: close a path traversal vulnerability.\n", True),
        (PLAIN_NOTES, False),
        ("### Changes\n- Docs: explain the security audit command.\n", False),
    ],
)
def test_is_security_notes(notes: str, security: bool) -> None:
    assert is_security_notes(notes) is security
