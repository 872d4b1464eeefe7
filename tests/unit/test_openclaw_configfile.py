"""Reading openclaw.json (JSON5): clear syntax errors, and the gateway endpoint OpenClaw would use."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.configfile import (
    DEFAULT_GATEWAY_PORT,
    gateway_settings,
    last_touched_version,
    parse_port_env,
    profile_default_port,
    read_config,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw"


@pytest.mark.parametrize("version", ["2026.8.2", "2026.9.6"])
def test_reads_a_real_onboarded_config(version: str) -> None:
    read = read_config(FIXTURES / version / "openclaw.json")
    assert read.problem is None and read.data is not None
    gateway = gateway_settings(read.data, {})
    assert (gateway.port, gateway.port_source, gateway.bind, gateway.auth_mode) == (
        {"2026.8.2": 18971, "2026.9.6": 18972}[version],
        "config",
        "loopback",
        "token",
    )
    assert last_touched_version(read.data) == version


def test_json5_features_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text("// comment\n{\n  gateway: { port: 19000, bind: 'lan', },\n}\n")
    read = read_config(path)
    assert read.problem is None
    assert gateway_settings(read.data, {}).port == 19000


def test_a_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text('{\n  "gateway": {\n    "port": 18789\n    "bind": "lan"\n  }\n}\n')  # missing comma
    read = read_config(path)
    assert read.exists and read.data is None and read.problem is not None
    assert (read.problem.line, read.problem.column) == (4, 5)
    assert read.problem.describe().startswith(f"{path}:4:5: not valid JSON5: Unexpected")
    error = read.problem.to_error()
    assert f"{path}:4:5" in error.message
    assert error.hint is not None and "openclaw config validate" in error.hint


def test_a_recorded_broken_config_is_located(tmp_path: Path) -> None:
    read = read_config(FIXTURES / "2026.9.6" / "openclaw.broken.json5")
    assert read.problem is not None and read.problem.line == 5
    assert "\n" not in read.problem.describe()


def test_missing_config_is_not_a_problem(tmp_path: Path) -> None:
    read = read_config(tmp_path / "absent.json")
    assert (read.exists, read.data, read.problem) == (False, None, None)


def test_a_config_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "openclaw.json"
    path.write_text("[1, 2]")
    read = read_config(path)
    assert read.problem is not None and "expected an object" in read.problem.message


def test_a_directory_in_place_of_the_config_is_reported(tmp_path: Path) -> None:
    read = read_config(tmp_path)
    assert read.problem is not None and "cannot read" in read.problem.message


@pytest.mark.parametrize(
    ("config", "env", "port", "source"),
    [
        ({"gateway": {"port": 18996}}, {}, 18996, "config"),
        ({"gateway": {"port": 18996}}, {"OPENCLAW_GATEWAY_PORT": "19999"}, 19999, "OPENCLAW_GATEWAY_PORT"),
        (
            {"gateway": {"port": 18996}},
            {"OPENCLAW_GATEWAY_PORT": "127.0.0.1:19998"},
            19998,
            "OPENCLAW_GATEWAY_PORT",
        ),
        (
            {"gateway": {"port": 18996}},
            {"OPENCLAW_GATEWAY_PORT": "[::1]:19997"},
            19997,
            "OPENCLAW_GATEWAY_PORT",
        ),
        ({"gateway": {"port": 18996}}, {"OPENCLAW_GATEWAY_PORT": "nonsense"}, 18996, "config"),
        ({}, {}, DEFAULT_GATEWAY_PORT, "default"),
        (None, {}, DEFAULT_GATEWAY_PORT, "default"),
        ({"gateway": {"port": 0}}, {}, DEFAULT_GATEWAY_PORT, "default"),
        ({"gateway": {"port": True}}, {}, DEFAULT_GATEWAY_PORT, "default"),
        ({}, {"OPENCLAW_PROFILE": "work"}, profile_default_port("work"), "profile"),
    ],
)
def test_port_precedence(
    config: dict[str, object] | None, env: dict[str, str], port: int, source: str
) -> None:
    gateway = gateway_settings(config, env)
    assert (gateway.port, gateway.port_source) == (port, source)


@pytest.mark.parametrize(("profile", "port"), [("work", 41984), ("dev", 38556), ("home", 32366)])
def test_profile_port_matches_openclaw(profile: str, port: int) -> None:
    # expected values computed with OpenClaw's own resolveGatewayPort formula under Node
    assert profile_default_port(profile) == port


@pytest.mark.parametrize(
    ("raw", "port"), [("18789", 18789), (" 1 ", 1), ("0", None), ("70000", None), ("a:b:1", None)]
)
def test_port_env_values(raw: str, port: int | None) -> None:
    assert parse_port_env(raw) == port


@pytest.mark.parametrize(
    ("gateway", "url"),
    [
        ({"port": 18789, "bind": "loopback"}, "http://127.0.0.1:18789"),
        ({"port": 18789, "bind": "lan"}, "http://127.0.0.1:18789"),
        ({"port": 18789, "bind": "custom", "customBindHost": "10.0.0.5"}, "http://10.0.0.5:18789"),
        ({"port": 18789, "bind": "custom", "customBindHost": "0.0.0.0"}, "http://127.0.0.1:18789"),  # noqa: S104
        ({"port": 18789, "bind": "custom", "customBindHost": "fd00::5"}, "http://[fd00::5]:18789"),
    ],
)
def test_local_http_base(gateway: dict[str, object], url: str) -> None:
    assert gateway_settings({"gateway": gateway}, {}).local_http_base() == url
