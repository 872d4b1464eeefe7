from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.config import Settings, load_config, to_toml
from clawkeeper.errors import ConfigError, ExitCode


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_when_no_file(tmp_path: Path) -> None:
    loaded = load_config(env={}, cwd=tmp_path)
    assert loaded.path is None
    assert loaded.settings.lab.version == "2026.8.2"
    assert loaded.settings.agent.kind == "openclaw"


def test_file_in_cwd_is_found_and_relative_paths_resolve_against_it(tmp_path: Path) -> None:
    write(tmp_path / "clawkeeper.toml", '[lab]\nroot = ".lab"\nport = 19000\n')
    other = tmp_path / "elsewhere"
    other.mkdir()
    loaded = load_config(env={"CLAWKEEPER_CONFIG": str(tmp_path / "clawkeeper.toml")}, cwd=other)
    assert loaded.settings.lab.root == tmp_path.resolve() / ".lab"
    assert loaded.settings.lab.port == 19000


def test_env_overrides_file_and_is_reported(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[lab]\nport = 19000\n")
    loaded = load_config(cfg, env={"CLAWKEEPER_LAB__PORT": "19001"}, cwd=tmp_path)
    assert loaded.settings.lab.port == 19001
    assert loaded.overrides == ("CLAWKEEPER_LAB__PORT",)


def test_env_list_values_parse_as_json(tmp_path: Path) -> None:
    loaded = load_config(
        env={"CLAWKEEPER_AGENT__GENERIC__VERSION_COMMAND": '["myagent", "--version"]'}, cwd=tmp_path
    )
    assert loaded.settings.agent.generic.version_command == ["myagent", "--version"]


def test_bad_value_names_key_value_source_and_allowed(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[lab]\nisolation = "full"\n')
    with pytest.raises(ConfigError) as info:
        load_config(cfg, env={}, cwd=tmp_path)
    line = info.value.one_line()
    assert str(cfg) in line
    assert "lab.isolation = 'full'" in line
    assert "'auto', 'namespace' or 'none'" in line
    assert info.value.exit_code == ExitCode.CONFIG


def test_bad_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"CLAWKEEPER_LAB__PORT": "99999"}, cwd=tmp_path)
    assert "CLAWKEEPER_LAB__PORT" in info.value.message
    assert "99999" in info.value.message


def test_unknown_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[lab]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'lab\.prot'"):
        load_config(cfg, env={}, cwd=tmp_path)


def test_broken_toml_is_one_clear_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[lab\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(cfg, env={}, cwd=tmp_path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={}, cwd=tmp_path)


def test_xdg_default_location_is_used(tmp_path: Path, isolated_xdg: Path) -> None:
    cfg_dir = isolated_xdg / "config" / "clawkeeper"
    cfg_dir.mkdir(parents=True)
    write(cfg_dir / "clawkeeper.toml", "[lab]\nport = 19010\n")
    loaded = load_config(env={}, cwd=tmp_path)
    assert loaded.path == cfg_dir / "clawkeeper.toml"
    assert loaded.settings.lab.port == 19010


def test_profile_name_validation(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile"):
        load_config(env={"CLAWKEEPER_AGENT__OPENCLAW__PROFILE": "../x"}, cwd=tmp_path)


def test_to_toml_round_trips(tmp_path: Path) -> None:
    settings = Settings.model_validate({"lab": {"port": 19999}, "agent": {"target": "lab"}})
    cfg = write(tmp_path / "c.toml", to_toml(settings))
    loaded = load_config(cfg, env={}, cwd=tmp_path)
    assert loaded.settings.lab.port == 19999
    assert loaded.settings.agent.target == "lab"


def test_to_toml_round_trips_monitor_overrides_and_webhooks(tmp_path: Path) -> None:
    """`config show` output is a valid config: aliased keys (`for`) and tables in lists survive."""
    source = tmp_path / "clawkeeper.toml"
    source.write_text(
        '[monitor.rules.overrides.GatewayNotReady]\nfor = "30s"\nkeep_firing_for = "1m"\n\n'
        '[[monitor.notify.webhooks]]\nurl = "http://127.0.0.1:9/hook"\n'
    )
    first = load_config(source, env={}).settings
    shown = tmp_path / "shown.toml"
    shown.write_text(to_toml(first))
    again = load_config(shown, env={}).settings
    assert again.monitor == first.monitor
    assert again.monitor.rules.overrides["GatewayNotReady"].for_ == 30.0
    assert again.monitor.notify.webhooks[0].url == "http://127.0.0.1:9/hook"
