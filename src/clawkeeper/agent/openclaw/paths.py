"""Where an OpenClaw install keeps its state and config, with the precedence OpenClaw itself uses.

Mirrors `src/config/paths.ts`, `src/infra/home-dir.ts` and `src/cli/profile.ts` of OpenClaw
(2026.8-2026.9), checked against the real CLI (`openclaw config file`):

- home: `OPENCLAW_HOME` (a leading `~` expands to the OS home), else `$HOME`, else the account's
  home. Blank, "undefined" and "null" count as unset.
- state dir: `OPENCLAW_STATE_DIR` (`~` expands to the home above); else, with `--profile <name>`,
  `<home>/.openclaw-<name>`; else `<home>/.openclaw`, or the legacy `<home>/.clawdbot` when only
  that exists. An explicit `OPENCLAW_STATE_DIR` wins over `--profile`.
- config: `OPENCLAW_CONFIG_PATH`; else `<state dir>/openclaw.json` (or a legacy `clawdbot.json`
  there when only that exists).
- `OPENCLAW_PROFILE` alone does NOT move the state dir (only `--profile` does, by setting the
  variables above); it still selects the service name and the derived gateway port.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from clawkeeper.agent.openclaw.configfile import normalize_profile

STATE_DIRNAME = ".openclaw"
LEGACY_STATE_DIRNAMES = (".clawdbot",)
CONFIG_FILENAME = "openclaw.json"
LEGACY_CONFIG_FILENAMES = ("clawdbot.json",)


def _value(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None:
        return None
    trimmed = raw.strip()
    return trimmed if trimmed and trimmed not in ("undefined", "null") else None


def _absolute(text: str) -> Path:
    """Absolute and normalised like Node's path.resolve: `..` collapsed, symlinks NOT followed."""
    return Path(os.path.normpath(Path(text).absolute()))


def os_home(env: Mapping[str, str]) -> Path:
    """The OS account's home as OpenClaw sees it (HOME, USERPROFILE, then the password database)."""
    raw = _value(env, "HOME") or _value(env, "USERPROFILE")
    return _absolute(raw) if raw else Path.home()


def effective_home(env: Mapping[str, str]) -> Path:
    """The home OpenClaw derives its default paths from: OPENCLAW_HOME, else the OS home."""
    explicit = _value(env, "OPENCLAW_HOME")
    if explicit is None:
        return os_home(env)
    if explicit == "~" or explicit.startswith(("~/", "~\\")):
        return _absolute(str(os_home(env)) + explicit[1:])
    return _absolute(explicit)


def expand_user_path(raw: str, env: Mapping[str, str]) -> Path:
    """`~` expands to OpenClaw's effective home (not the OS home); the result is absolute."""
    text = raw.strip()
    if text == "~" or text.startswith(("~/", "~\\")):
        text = str(effective_home(env)) + text[1:]
    return _absolute(text)


@dataclass(frozen=True)
class StatePaths:
    home: Path
    state_dir: Path
    config_path: Path
    profile: str | None  # the named profile in effect (paths, service name, port), if any
    state_dir_source: str  # "OPENCLAW_STATE_DIR", "profile", "default", "legacy"
    config_path_source: str  # "OPENCLAW_CONFIG_PATH", "state dir", "legacy"


def resolve_state_paths(
    env: Mapping[str, str],
    *,
    profile: str | None = None,
    exists: Callable[[Path], bool] = Path.exists,
) -> StatePaths:
    """Resolve state dir and config path as `openclaw [--profile <profile>]` would under `env`.

    `profile` is the `--profile` flag (clawkeeper's `agent.openclaw.profile`); `exists` is
    injectable so tests can describe a filesystem without creating it.
    """
    home = effective_home(env)
    selected = normalize_profile(profile)
    explicit_state = _value(env, "OPENCLAW_STATE_DIR")
    explicit_config = _value(env, "OPENCLAW_CONFIG_PATH")
    state_dir: Path
    if selected is not None:
        # `--profile` keeps an explicit state dir unless it is merely the inherited profile's
        # default dir (a shell already switched to another profile), which it replaces; the same
        # goes for an explicit config path that is the inherited profile's default config.
        inherited = normalize_profile(env.get("OPENCLAW_PROFILE"))
        inherited_dir = home / (STATE_DIRNAME + (f"-{inherited}" if inherited else ""))
        profile_dir = home / f"{STATE_DIRNAME}-{selected}"
        switches = inherited_dir != profile_dir
        explicit = expand_user_path(explicit_state, env) if explicit_state else None
        switches_state = explicit is not None and switches and explicit == inherited_dir
        if explicit is not None and not switches_state:
            state_dir, state_source = explicit, "OPENCLAW_STATE_DIR"
        else:
            state_dir, state_source = profile_dir, "profile"
        config = expand_user_path(explicit_config, env) if explicit_config else None
        replaces_config = (
            config is not None
            and switches
            and (explicit is None or switches_state)
            and config == inherited_dir / CONFIG_FILENAME
        )
        if config is not None and not replaces_config:
            config_path, config_source = config, "OPENCLAW_CONFIG_PATH"
        else:
            config_path, config_source = state_dir / CONFIG_FILENAME, "state dir"
        return StatePaths(home, state_dir, config_path, selected, state_source, config_source)

    if explicit_state:
        state_dir, state_source = expand_user_path(explicit_state, env), "OPENCLAW_STATE_DIR"
    else:
        state_dir, state_source = _default_state_dir(home, exists)
    if explicit_config:
        config_path, config_source = expand_user_path(explicit_config, env), "OPENCLAW_CONFIG_PATH"
    else:
        config_path, config_source = _config_in(state_dir, home, bool(explicit_state), exists)
    env_profile = normalize_profile(env.get("OPENCLAW_PROFILE"))
    return StatePaths(home, state_dir, config_path, env_profile, state_source, config_source)


def _default_state_dir(home: Path, exists: Callable[[Path], bool]) -> tuple[Path, str]:
    new_dir = home / STATE_DIRNAME
    if exists(new_dir):
        return new_dir, "default"
    for legacy in LEGACY_STATE_DIRNAMES:
        if exists(home / legacy):
            return home / legacy, "legacy"
    return new_dir, "default"


def _config_in(
    state_dir: Path, home: Path, state_overridden: bool, exists: Callable[[Path], bool]
) -> tuple[Path, str]:
    for index, name in enumerate((CONFIG_FILENAME, *LEGACY_CONFIG_FILENAMES)):
        candidate = state_dir / name
        if exists(candidate):
            return candidate, "state dir" if index == 0 else "legacy"
    if not state_overridden:
        # the default state dir falls back to any existing default-location config
        for directory in (home / STATE_DIRNAME, *(home / d for d in LEGACY_STATE_DIRNAMES)):
            for index, name in enumerate((CONFIG_FILENAME, *LEGACY_CONFIG_FILENAMES)):
                candidate = directory / name
                if exists(candidate):
                    return candidate, "state dir" if index == 0 and directory == state_dir else "legacy"
    return state_dir / CONFIG_FILENAME, "state dir"


def profile_env(paths: StatePaths, env: Mapping[str, str]) -> dict[str, str]:
    """The variables that make every `openclaw` call act as `--profile <name>` would.

    The target's argv carries no `--profile`; setting these is exactly what OpenClaw's flag does
    (including the dev profile's port 19001 when no port is set).
    """
    if paths.profile is None:
        return {}
    out = {
        "OPENCLAW_PROFILE": paths.profile,
        "OPENCLAW_STATE_DIR": str(paths.state_dir),
        "OPENCLAW_CONFIG_PATH": str(paths.config_path),
    }
    if paths.profile == "dev" and not _value(env, "OPENCLAW_GATEWAY_PORT"):
        out["OPENCLAW_GATEWAY_PORT"] = "19001"
    return out
