"""Finding the LIVE OpenClaw on this machine (never a clawkeeper lab instance: the lab builds its own
targets) and describing how to reach it as an `OpenClawTarget`.

The binary is looked for, in order: `agent.openclaw.binary`; `openclaw` on PATH; npm's global
prefix (`npm prefix -g`) `bin/`; pnpm's and bun's global bin dirs; the local-prefix installer's
`~/.openclaw/bin`. State and config paths follow OpenClaw's own precedence (see `paths.py`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from clawkeeper.agent.openclaw.paths import os_home, profile_env, resolve_state_paths
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import OpenClawSettings
from clawkeeper.effects import proc
from clawkeeper.errors import AgentNotFound, ClawkeeperError

BINARY_NAME = "openclaw"
NOT_FOUND_HINT = (
    "install OpenClaw (npm install -g openclaw), set agent.openclaw.binary in clawkeeper.toml "
    "to its `openclaw` executable, or try one in isolation with `clawkeeper lab up`"
)
# variables that decide which install and state a CLI call sees; copied into the target so it is
# self-describing (the rest of the environment is inherited when commands run)
_TARGET_ENV_KEYS = (
    "HOME",
    "OPENCLAW_HOME",
    "OPENCLAW_STATE_DIR",
    "OPENCLAW_CONFIG_PATH",
    "OPENCLAW_PROFILE",
    "OPENCLAW_GATEWAY_PORT",
    "OPENCLAW_NIX_MODE",
)


@dataclass(frozen=True)
class BinarySearch:
    binary: Path | None
    searched: tuple[str, ...]  # every place looked at, in order, with what was found there


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _within(path: Path, roots: Sequence[Path]) -> Path | None:
    try:
        resolved = path.resolve()
    except OSError:
        return None
    for root in roots:
        try:
            if resolved.is_relative_to(root.resolve()):
                return root
        except OSError:
            continue
    return None


def npm_global_prefix(env: Mapping[str, str], *, timeout: float) -> tuple[Path | None, str]:
    """`npm prefix -g` under `env`: (prefix, note). A missing or failing npm is a note, not an error."""
    npm = shutil.which("npm", path=env.get("PATH"))
    if npm is None:
        return None, "npm not found on PATH"
    try:
        result = proc.run([npm, "prefix", "-g"], timeout=timeout, env=env)
    except ClawkeeperError as exc:
        return None, f"`npm prefix -g` failed: {exc.message}"
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not result.ok or not lines:
        return None, f"`npm prefix -g` exited {result.returncode}: {result.stderr_tail(120)}"
    return Path(lines[-1]), f"npm prefix -g = {lines[-1]}"


def locate_binary(
    settings: OpenClawSettings,
    env: Mapping[str, str],
    *,
    exclude_roots: Sequence[Path] = (),
    npm_timeout: float = 15.0,
) -> BinarySearch:
    """Look for the `openclaw` executable; never raises. See the module docstring for the order."""
    searched: list[str] = []
    if settings.binary is not None:
        found = _is_executable(settings.binary)
        searched.append(f"agent.openclaw.binary = {settings.binary} ({'found' if found else 'missing'})")
        # an explicit setting is never second-guessed by a search that could find another install
        return BinarySearch(settings.binary if found else None, tuple(searched))

    def consider(label: str, path: Path) -> Path | None:
        if not _is_executable(path):
            searched.append(f"{label}: {path} (not there)")
            return None
        lab = _within(path, exclude_roots)
        if lab is not None:
            searched.append(f"{label}: {path} (skipped: inside the clawkeeper lab {lab})")
            return None
        searched.append(f"{label}: {path} (found)")
        return path

    path_var = env.get("PATH", "")
    on_path = shutil.which(BINARY_NAME, path=path_var) if path_var else None
    if on_path is not None:
        if (hit := consider("PATH", Path(on_path))) is not None:
            return BinarySearch(hit, tuple(searched))
    else:
        searched.append(f"PATH: {path_var or '(empty)'} (no {BINARY_NAME})")

    prefix, note = npm_global_prefix(env, timeout=npm_timeout)
    if prefix is None:
        searched.append(f"npm global prefix: {note}")
    elif (hit := consider("npm global prefix", prefix / "bin" / BINARY_NAME)) is not None:
        return BinarySearch(hit, tuple(searched))

    home = os_home(env)
    pnpm_home = Path(env["PNPM_HOME"]) if env.get("PNPM_HOME") else home / ".local" / "share" / "pnpm"
    bun_bin = Path(env["BUN_INSTALL"]) / "bin" if env.get("BUN_INSTALL") else home / ".bun" / "bin"
    for label, candidate in (
        ("pnpm global bin", pnpm_home / BINARY_NAME),
        ("bun global bin", bun_bin / BINARY_NAME),
        ("local-prefix install (install-cli.sh)", home / ".openclaw" / "bin" / BINARY_NAME),
    ):
        if (hit := consider(label, candidate)) is not None:
            return BinarySearch(hit, tuple(searched))
    return BinarySearch(None, tuple(searched))


def settings_env(settings: OpenClawSettings, env: Mapping[str, str]) -> dict[str, str]:
    """`env` with clawkeeper's explicit settings applied as the OPENCLAW_* variables they stand for."""
    out = dict(env)
    if settings.home is not None:
        out["OPENCLAW_HOME"] = str(settings.home)
    if settings.state_dir is not None:
        out["OPENCLAW_STATE_DIR"] = str(settings.state_dir)
    if settings.config_path is not None:
        out["OPENCLAW_CONFIG_PATH"] = str(settings.config_path)
    return out


def _http_base(url: str | None) -> str | None:
    if not url:
        return None
    base = url.strip().rstrip("/")
    # the gateway serves HTTP and WebSocket on one port; accept the ws:// form users copy from OpenClaw
    if base.startswith("ws://"):
        base = "http://" + base.removeprefix("ws://")
    elif base.startswith("wss://"):
        base = "https://" + base.removeprefix("wss://")
    return base


def find_live_target(
    settings: OpenClawSettings,
    env: Mapping[str, str],
    *,
    exclude_roots: Sequence[Path] = (),
) -> OpenClawTarget:
    """The live install's target. Raises AgentNotFound listing every place searched."""
    return target_for(settings, env, locate_binary(settings, env, exclude_roots=exclude_roots))


def target_for(settings: OpenClawSettings, env: Mapping[str, str], search: BinarySearch) -> OpenClawTarget:
    """The target for a completed search (AgentNotFound when it found nothing)."""
    if search.binary is None:
        raise AgentNotFound(
            "no OpenClaw installation found; looked at: " + "; ".join(search.searched),
            hint=NOT_FOUND_HINT,
        )
    effective = settings_env(settings, env)
    paths = resolve_state_paths(effective, profile=settings.profile)
    if settings.profile is not None:
        effective.update(profile_env(paths, effective))
    target_env = {key: effective[key] for key in _TARGET_ENV_KEYS if effective.get(key)}
    node_bin_dir: Path | None = None
    if settings.node is not None:
        node_bin_dir = settings.node if settings.node.is_dir() else settings.node.parent
    return OpenClawTarget(
        label="live",
        binary=search.binary,
        node_bin_dir=node_bin_dir,
        env=target_env,
        http_base=_http_base(settings.gateway_url),
        state_dir=paths.state_dir,
        config_path=paths.config_path,
        profile=paths.profile,
        isolation="none",
    )
