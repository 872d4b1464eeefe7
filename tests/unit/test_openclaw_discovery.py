"""Finding the live OpenClaw: where clawkeeper looks, in which order, and what it says when it finds none."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.discovery import find_live_target, locate_binary
from clawkeeper.config import OpenClawSettings
from clawkeeper.errors import AgentNotFound, ExitCode


def exe(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def env_for(home: Path, *path_dirs: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.pathsep.join(str(p) for p in path_dirs), **extra}


def test_nothing_found_lists_every_place_and_how_to_fix(home: Path, tmp_path: Path) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    with pytest.raises(AgentNotFound) as caught:
        find_live_target(OpenClawSettings(), env_for(home, empty_bin))
    error = caught.value
    assert error.exit_code == ExitCode.AGENT_NOT_FOUND
    for place in (
        f"PATH: {empty_bin}",
        "npm global prefix: npm not found on PATH",
        str(home / ".local" / "share" / "pnpm" / "openclaw"),
        str(home / ".bun" / "bin" / "openclaw"),
        str(home / ".openclaw" / "bin" / "openclaw"),
    ):
        assert place in error.message
    assert error.hint is not None
    for fix in ("install OpenClaw", "agent.openclaw.binary", "clawkeeper lab up"):
        assert fix in error.hint


def test_on_path_first(home: Path, tmp_path: Path) -> None:
    on_path = exe(tmp_path / "bin" / "openclaw")
    exe(home / ".bun" / "bin" / "openclaw")
    target = find_live_target(OpenClawSettings(), env_for(home, tmp_path / "bin"))
    assert target.binary == on_path
    assert (target.label, target.isolation, target.exec_prefix) == ("live", "none", ())
    assert target.state_dir == home / ".openclaw"
    assert target.config_path == home / ".openclaw" / "openclaw.json"


def test_npm_global_prefix(home: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "npm-global"
    binary = exe(prefix / "bin" / "openclaw")
    tools = tmp_path / "tools"
    exe(tools / "npm", f'#!/bin/sh\n[ "$1 $2" = "prefix -g" ] && echo {prefix}\n')
    search = locate_binary(OpenClawSettings(), env_for(home, tools))
    assert search.binary == binary
    assert search.searched[-1] == f"npm global prefix: {binary} (found)"


def test_a_failing_npm_is_noted_and_the_search_goes_on(home: Path, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    exe(tools / "npm", "#!/bin/sh\necho 'npm ERR! broken' >&2\nexit 1\n")
    binary = exe(home / ".local" / "share" / "pnpm" / "openclaw")
    search = locate_binary(OpenClawSettings(), env_for(home, tools))
    assert search.binary == binary
    assert any("`npm prefix -g` exited 1: npm ERR! broken" in s for s in search.searched)


@pytest.mark.parametrize(
    ("relative", "extra_env"),
    [
        (".local/share/pnpm/openclaw", {}),
        ("custom-pnpm/openclaw", {"PNPM_HOME": "{home}/custom-pnpm"}),
        (".bun/bin/openclaw", {}),
        ("bun-root/bin/openclaw", {"BUN_INSTALL": "{home}/bun-root"}),
        (".openclaw/bin/openclaw", {}),
    ],
)
def test_package_manager_and_local_prefix_bins(
    home: Path, tmp_path: Path, relative: str, extra_env: dict[str, str]
) -> None:
    binary = exe(home / relative)
    env = env_for(home, tmp_path / "nothing", **{k: v.format(home=home) for k, v in extra_env.items()})
    assert find_live_target(OpenClawSettings(), env).binary == binary


def test_the_configured_binary_is_used_and_never_second_guessed(home: Path, tmp_path: Path) -> None:
    configured = exe(tmp_path / "opt" / "openclaw")
    exe(tmp_path / "bin" / "openclaw")
    settings = OpenClawSettings(binary=configured)
    assert find_live_target(settings, env_for(home, tmp_path / "bin")).binary == configured
    missing = OpenClawSettings(binary=tmp_path / "opt" / "gone")
    with pytest.raises(AgentNotFound) as caught:
        find_live_target(missing, env_for(home, tmp_path / "bin"))
    assert f"agent.openclaw.binary = {tmp_path / 'opt' / 'gone'} (missing)" in caught.value.message


def test_the_clawkeeper_lab_is_never_the_live_install(home: Path, tmp_path: Path) -> None:
    lab_root = tmp_path / "lab"
    exe(lab_root / "versions" / "2026.9.6" / "bin" / "openclaw")
    live = exe(home / ".bun" / "bin" / "openclaw")
    env = env_for(home, lab_root / "versions" / "2026.9.6" / "bin")
    search = locate_binary(OpenClawSettings(), env, exclude_roots=[lab_root])
    assert search.binary == live
    assert any("skipped: inside the clawkeeper lab" in s for s in search.searched)


def test_profile_and_settings_reach_the_cli_environment(home: Path, tmp_path: Path) -> None:
    exe(tmp_path / "bin" / "openclaw")
    target = find_live_target(OpenClawSettings(profile="work"), env_for(home, tmp_path / "bin"))
    assert target.profile == "work"
    assert target.state_dir == home / ".openclaw-work"
    assert dict(target.env) == {
        "HOME": str(home),
        "OPENCLAW_PROFILE": "work",
        "OPENCLAW_STATE_DIR": str(home / ".openclaw-work"),
        "OPENCLAW_CONFIG_PATH": str(home / ".openclaw-work" / "openclaw.json"),
    }
    explicit = OpenClawSettings(state_dir=tmp_path / "state", config_path=tmp_path / "cfg.json5")
    target = find_live_target(explicit, env_for(home, tmp_path / "bin", OPENCLAW_STATE_DIR="/ignored"))
    assert (target.state_dir, target.config_path) == (tmp_path / "state", tmp_path / "cfg.json5")
    assert target.env["OPENCLAW_STATE_DIR"] == str(tmp_path / "state")


def test_environment_overrides_are_honoured_without_settings(home: Path, tmp_path: Path) -> None:
    exe(tmp_path / "bin" / "openclaw")
    env = env_for(home, tmp_path / "bin", OPENCLAW_HOME=str(tmp_path / "svc"))
    target = find_live_target(OpenClawSettings(), env)
    assert target.state_dir == tmp_path / "svc" / ".openclaw"
    assert target.env["OPENCLAW_HOME"] == str(tmp_path / "svc")


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://127.0.0.1:18789/", "http://127.0.0.1:18789"),
        ("ws://127.0.0.1:18789", "http://127.0.0.1:18789"),
        ("wss://gw.example.test", "https://gw.example.test"),
    ],
)
def test_gateway_url_setting(home: Path, tmp_path: Path, url: str, base: str) -> None:
    exe(tmp_path / "bin" / "openclaw")
    target = find_live_target(OpenClawSettings(gateway_url=url), env_for(home, tmp_path / "bin"))
    assert target.http_base == base
