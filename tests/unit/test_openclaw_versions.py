"""OpenClaw version ordering: the table the update runbook and `status` rely on."""

from __future__ import annotations

import pytest

from clawkeeper.agent.openclaw.versions import (
    Channel,
    InvalidVersion,
    ReleaseKind,
    compare_versions,
    newest_per_channel,
    parse_cli_version,
    parse_version,
    sort_versions,
    try_parse_version,
)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("2026.9.5", "2026.9.6"),
        ("2026.9.6", "2026.10.1"),  # months compare numerically, not as text
        ("2026.9.33", "2026.10.1"),
        ("2025.12.40", "2026.1.1"),
        ("2026.7.1", "2026.7.1-2"),  # a correction release is NEWER than its base
        ("2026.7.1-1", "2026.7.1-2"),
        ("2026.7.1-2", "2026.7.2"),
        ("2026.9.5-beta.1", "2026.9.5"),  # prereleases are older than their base
        ("2026.9.5-beta.1", "2026.9.5-beta.2"),
        ("2026.9.5-beta.2", "2026.9.5-beta.10"),
        ("2026.9.5-alpha.3", "2026.9.5-beta.1"),
        ("2026.9.4", "2026.9.5-alpha.1"),
        ("2026.9.5-beta.2", "2026.9.5-1"),
    ],
)
def test_ordering(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert parse_version(older) < parse_version(newer)


def test_equal_versions_ignore_a_leading_v() -> None:
    assert compare_versions("v2026.9.6", "2026.9.6") == 0
    assert parse_version("v2026.9.6").text == "2026.9.6"


@pytest.mark.parametrize(
    ("text", "kind", "number", "channel", "stable"),
    [
        ("2026.9.6", ReleaseKind.STABLE, None, Channel.STABLE, True),
        ("2026.9.32", ReleaseKind.STABLE, None, Channel.STABLE, True),
        ("2026.7.33", ReleaseKind.STABLE, None, Channel.EXTENDED_STABLE, True),
        ("2026.6.35", ReleaseKind.STABLE, None, Channel.EXTENDED_STABLE, True),
        ("2026.7.1-2", ReleaseKind.CORRECTION, 2, Channel.STABLE, True),
        ("2026.7.33-1", ReleaseKind.CORRECTION, 1, Channel.EXTENDED_STABLE, True),
        ("2026.10.5-beta.2", ReleaseKind.BETA, 2, Channel.BETA, False),
        ("2026.10.5-alpha.1", ReleaseKind.ALPHA, 1, Channel.ALPHA, False),
    ],
)
def test_classification(
    text: str, kind: ReleaseKind, number: int | None, channel: Channel, stable: bool
) -> None:
    version = parse_version(text)
    assert (version.kind, version.number, version.channel, version.is_stable) == (
        kind,
        number,
        channel,
        stable,
    )


@pytest.mark.parametrize(
    "text",
    [
        "latest",
        "",
        "2026.9",
        "2026.13.1",
        "2026.9.6-rc.1",
        "2026.9.6-beta",
        "2026.9.6+build",
        "26.9.6",
        "1.2.3.4",
    ],
)
def test_not_versions(text: str) -> None:
    with pytest.raises(InvalidVersion, match="not an OpenClaw version"):
        parse_version(text)
    assert try_parse_version(text) is None


def test_sort_drops_tags_that_are_not_versions() -> None:
    ordered = sort_versions(["2026.9.6", "latest", "2026.9.6-beta.1", "2026.8.2", "2026.9.6-1"])
    assert [v.text for v in ordered] == ["2026.8.2", "2026.9.6-beta.1", "2026.9.6", "2026.9.6-1"]
    with pytest.raises(InvalidVersion):
        sort_versions(["2026.9.6", "latest"], skip_invalid=False)


def test_newest_per_channel() -> None:
    published = [
        "2026.7.33",
        "2026.7.35",
        "2026.8.1",
        "2026.8.2",
        "2026.9.6",
        "2026.9.7-1",
        "2026.10.5-beta.1",
        "2026.10.5-beta.2",
        "2026.10.6-alpha.1",
        "2026.9.1-beta.1",
    ]
    newest = newest_per_channel(published)
    assert {channel: v.text for channel, v in newest.items()} == {
        Channel.STABLE: "2026.9.7-1",
        Channel.EXTENDED_STABLE: "2026.7.35",
        Channel.BETA: "2026.10.5-beta.2",
        Channel.ALPHA: "2026.10.6-alpha.1",
    }


def test_newest_per_channel_leaves_out_empty_channels() -> None:
    assert set(newest_per_channel(["2026.9.6", "2026.8.2"])) == {Channel.STABLE}


@pytest.mark.parametrize(
    ("output", "version", "commit"),
    [
        ("OpenClaw 2026.9.6 (eb377ac)\n", "2026.9.6", "eb377ac"),
        ("OpenClaw 2026.8.2 (0965053)", "2026.8.2", "0965053"),
        ("OpenClaw 2026.9.6\n", "2026.9.6", None),
        ("(node:1) ExperimentalWarning: x\nOpenClaw 2026.7.1-2 (abc1234)\n", "2026.7.1-2", "abc1234"),
    ],
)
def test_cli_version_output(output: str, version: str, commit: str | None) -> None:
    parsed = parse_cli_version(output)
    assert parsed is not None
    assert (parsed.version, parsed.commit) == (version, commit)


def test_cli_version_output_in_an_unknown_format() -> None:
    assert parse_cli_version("openclaw version 2026.9.6") is None
    assert parse_cli_version("") is None
