"""State dir and config path precedence, as checked against the real CLI (`openclaw config file`):
OPENCLAW_STATE_DIR beats --profile, OPENCLAW_HOME replaces $HOME, OPENCLAW_PROFILE alone moves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.paths import effective_home, profile_env, resolve_state_paths

HOME = Path("/home/u")


def nothing_exists(_path: Path) -> bool:
    return False


def only(*existing: Path) -> object:
    present = set(existing)
    return lambda path: path in present


@pytest.mark.parametrize(
    ("env", "profile", "state_dir", "config_path", "state_source"),
    [
        ({"HOME": "/home/u"}, None, "/home/u/.openclaw", "/home/u/.openclaw/openclaw.json", "default"),
        (
            {"HOME": "/home/u", "OPENCLAW_HOME": "/srv/oc"},
            None,
            "/srv/oc/.openclaw",
            "/srv/oc/.openclaw/openclaw.json",
            "default",
        ),
        (
            {"HOME": "/home/u", "OPENCLAW_HOME": "~/svc"},
            None,
            "/home/u/svc/.openclaw",
            "/home/u/svc/.openclaw/openclaw.json",
            "default",
        ),
        (
            {"HOME": "/home/u", "OPENCLAW_STATE_DIR": "/data/oc"},
            None,
            "/data/oc",
            "/data/oc/openclaw.json",
            "OPENCLAW_STATE_DIR",
        ),
        # `~` in OPENCLAW_STATE_DIR is OpenClaw's home, which OPENCLAW_HOME replaces
        (
            {"HOME": "/home/u", "OPENCLAW_HOME": "/srv/oc", "OPENCLAW_STATE_DIR": "~/sd"},
            None,
            "/srv/oc/sd",
            "/srv/oc/sd/openclaw.json",
            "OPENCLAW_STATE_DIR",
        ),
        (
            {"HOME": "/home/u", "OPENCLAW_CONFIG_PATH": "/etc/oc.json5"},
            None,
            "/home/u/.openclaw",
            "/etc/oc.json5",
            "default",
        ),
        (
            {"HOME": "/home/u"},
            "work",
            "/home/u/.openclaw-work",
            "/home/u/.openclaw-work/openclaw.json",
            "profile",
        ),
        # an explicit state dir wins over --profile
        (
            {"HOME": "/home/u", "OPENCLAW_STATE_DIR": "/data/oc"},
            "work",
            "/data/oc",
            "/data/oc/openclaw.json",
            "OPENCLAW_STATE_DIR",
        ),
        # OPENCLAW_PROFILE alone does not move the state dir
        (
            {"HOME": "/home/u", "OPENCLAW_PROFILE": "work"},
            None,
            "/home/u/.openclaw",
            "/home/u/.openclaw/openclaw.json",
            "default",
        ),
        # blank and "undefined" values count as unset
        (
            {"HOME": "/home/u", "OPENCLAW_STATE_DIR": "  ", "OPENCLAW_HOME": "undefined"},
            None,
            "/home/u/.openclaw",
            "/home/u/.openclaw/openclaw.json",
            "default",
        ),
        # "default" is no profile at all
        ({"HOME": "/home/u"}, "default", "/home/u/.openclaw", "/home/u/.openclaw/openclaw.json", "default"),
    ],
)
def test_precedence(
    env: dict[str, str], profile: str | None, state_dir: str, config_path: str, state_source: str
) -> None:
    paths = resolve_state_paths(env, profile=profile, exists=nothing_exists)
    assert (str(paths.state_dir), str(paths.config_path), paths.state_dir_source) == (
        state_dir,
        config_path,
        state_source,
    )


def test_profile_replaces_a_state_dir_inherited_from_another_profile() -> None:
    # a shell already set up for profile "a" switches to "b": its state dir must not stick
    env = {
        "HOME": "/home/u",
        "OPENCLAW_PROFILE": "a",
        "OPENCLAW_STATE_DIR": "/home/u/.openclaw-a",
        "OPENCLAW_CONFIG_PATH": "/home/u/.openclaw-a/openclaw.json",
    }
    paths = resolve_state_paths(env, profile="b", exists=nothing_exists)
    assert paths.state_dir == HOME / ".openclaw-b"
    assert paths.config_path == HOME / ".openclaw-b" / "openclaw.json"
    assert paths.profile == "b"


def test_profile_keeps_an_explicit_config_path() -> None:
    env = {"HOME": "/home/u", "OPENCLAW_CONFIG_PATH": "/etc/openclaw/work.json"}
    paths = resolve_state_paths(env, profile="work", exists=nothing_exists)
    assert paths.state_dir == HOME / ".openclaw-work"
    assert paths.config_path == Path("/etc/openclaw/work.json")


def test_legacy_state_dir_is_used_only_when_the_new_one_is_absent() -> None:
    legacy = HOME / ".clawdbot"
    paths = resolve_state_paths({"HOME": "/home/u"}, exists=only(legacy, legacy / "clawdbot.json"))  # type: ignore[arg-type]
    assert paths.state_dir == legacy
    assert paths.config_path == legacy / "clawdbot.json"
    assert paths.state_dir_source == "legacy"
    both = resolve_state_paths({"HOME": "/home/u"}, exists=only(legacy, HOME / ".openclaw"))  # type: ignore[arg-type]
    assert both.state_dir == HOME / ".openclaw"


def test_effective_home_falls_back_to_the_account_home_without_home() -> None:
    assert effective_home({}) == Path.home()


def test_profile_env_makes_cli_calls_act_as_profile() -> None:
    paths = resolve_state_paths({"HOME": "/home/u"}, profile="dev", exists=nothing_exists)
    assert profile_env(paths, {"HOME": "/home/u"}) == {
        "OPENCLAW_PROFILE": "dev",
        "OPENCLAW_STATE_DIR": "/home/u/.openclaw-dev",
        "OPENCLAW_CONFIG_PATH": "/home/u/.openclaw-dev/openclaw.json",
        "OPENCLAW_GATEWAY_PORT": "19001",  # what `--dev` / `--profile dev` sets when no port is given
    }
    work = resolve_state_paths({"HOME": "/home/u"}, profile="work", exists=nothing_exists)
    assert "OPENCLAW_GATEWAY_PORT" not in profile_env(work, {})
    assert profile_env(resolve_state_paths({"HOME": "/home/u"}, exists=nothing_exists), {}) == {}
