"""Facts about an OpenClaw installation read from disk: package root, build, install kind, Node, service.

The functions here only read files (and, for the service unit and Node, ask `systemctl` / `node`
through effects.proc); they are what `OpenClawAdapter.discover` is made of.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.agent.adapter import InstallKind, NodeRuntime, ServiceUnit
from clawkeeper.effects import proc
from clawkeeper.errors import ClawkeeperError

PACKAGE_NAME = "openclaw"
ENTRY_FILE = "openclaw.mjs"
# pnpm and npm write small shell/cmd shims that name the real entry point
_SHIM_TARGET_RE = re.compile(r"""["']?(?P<path>(?:\$basedir|%~dp0|\$\{basedir\})?[^\s"']*?openclaw\.mjs)""")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_package_root(path: Path) -> bool:
    data = _read_json(path / "package.json")
    return data is not None and data.get("name") == PACKAGE_NAME


def resolve_package_root(binary: Path) -> Path | None:
    """The `openclaw` package directory behind a binary: a symlink, a shim script, or the entry itself.

    npm/bun link `bin/openclaw` to `<root>/openclaw.mjs`; pnpm and the local-prefix installer write
    a wrapper script that names the entry; a git checkout runs `<checkout>/openclaw.mjs`.
    """
    try:
        resolved = binary.resolve(strict=True)
    except OSError:
        return None
    for candidate in (resolved.parent, resolved.parent.parent):
        if is_package_root(candidate):
            return candidate
    shim_target = _shim_target(resolved)
    if shim_target is not None:
        for candidate in (shim_target.parent, shim_target.parent.parent):
            if is_package_root(candidate):
                return candidate
    # wrappers that do not name the entry: look in the prefix layouts next to the bin dir
    prefix = resolved.parent.parent
    for candidate in (
        prefix / "lib" / "node_modules" / PACKAGE_NAME,
        prefix / "node_modules" / PACKAGE_NAME,
    ):
        if is_package_root(candidate):
            return candidate
    return None


def _shim_target(script: Path) -> Path | None:
    try:
        with script.open("rb") as handle:
            head = handle.read(8192)
    except OSError:
        return None
    if b"\0" in head:
        return None  # a native binary, not a script
    text = head.decode("utf-8", errors="replace")
    for match in _SHIM_TARGET_RE.finditer(text):
        raw = match["path"]
        for marker in ("${basedir}", "$basedir", "%~dp0"):
            if raw.startswith(marker):
                raw = str(script.parent) + "/" + raw[len(marker) :].lstrip("/\\")
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = script.parent / candidate
        try:
            return candidate.resolve(strict=True)
        except OSError:
            continue
    return None


def read_build(root: Path) -> dict[str, Any] | None:
    """`package.json` version plus `dist/build-info.json` (commit, builtAt, buildId), when present."""
    package = _read_json(root / "package.json")
    info = _read_json(root / "dist" / "build-info.json")
    if package is None and info is None:
        return None
    build: dict[str, Any] = {}
    if package is not None and isinstance(package.get("version"), str):
        build["version"] = package["version"]
    if info is not None:
        for key in ("version", "commit", "builtAt", "buildId"):
            if isinstance(info.get(key), str):
                build.setdefault(key, info[key])
    if package is not None:
        meta = package.get("openclaw")
        schemas = meta.get("schemaVersions") if isinstance(meta, dict) else None
        if isinstance(schemas, dict):
            build["schemaVersions"] = {k: v for k, v in schemas.items() if isinstance(v, int)}
        engines = package.get("engines")
        if isinstance(engines, dict) and isinstance(engines.get("node"), str):
            build["nodeEngines"] = engines["node"]
    return build


@dataclass(frozen=True)
class InstallGuess:
    kind: InstallKind
    reason: str


def classify_install(
    root: Path | None,
    *,
    env: Mapping[str, str],
    home: Path,
    npm_global_root: Path | None = None,
    in_container: bool = False,
) -> InstallGuess:
    """Decide how this copy of OpenClaw was installed, from where its package root lives.

    Pure apart from looking for `.git` and the local-prefix Node under the paths given.
    """
    if env.get("OPENCLAW_NIX_MODE") == "1":
        return InstallGuess(InstallKind.NIX, "OPENCLAW_NIX_MODE=1")
    if root is None:
        return InstallGuess(InstallKind.UNKNOWN, "package root not found")
    text = root.as_posix()
    if text.startswith("/nix/store/"):
        return InstallGuess(InstallKind.NIX, "package root is in /nix/store")
    if (root / ".git").exists():
        return InstallGuess(InstallKind.GIT_CHECKOUT, f"{root} is a git checkout")
    if "/.bun/install/global/node_modules/" in text:
        return InstallGuess(InstallKind.BUN_GLOBAL, "package root is in bun's global store")
    if "/pnpm/global/" in text or "/.pnpm/" in text:
        return InstallGuess(InstallKind.PNPM_GLOBAL, "package root is in pnpm's global store")
    if npm_global_root is not None and _same(root, npm_global_root / PACKAGE_NAME):
        return InstallGuess(InstallKind.NPM_GLOBAL, f"package root is in npm's global root {npm_global_root}")
    if root.parent.name == "node_modules" and root.parent.parent.name == "lib":
        prefix = root.parent.parent.parent
        # install-cli.sh keeps its own Node under <prefix>/tools; its default prefix is ~/.openclaw
        if _same(prefix, home / ".openclaw") or (prefix / "tools" / "node").exists():
            return InstallGuess(InstallKind.LOCAL_PREFIX, f"local-prefix install under {prefix}")
        return InstallGuess(InstallKind.NPM_GLOBAL, f"npm global layout under prefix {prefix}")
    if root.parent.name == "node_modules":
        return InstallGuess(InstallKind.LOCAL_PREFIX, f"project-local install under {root.parent.parent}")
    if in_container:
        # the official image ships the package outside any package manager's layout (e.g. /app);
        # a container that npm-installed OpenClaw is classified by the layout checks above
        return InstallGuess(InstallKind.DOCKER, f"package at {root} inside a container image")
    return InstallGuess(InstallKind.UNKNOWN, f"unrecognised location {root}")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def kind_from_update_status(install_kind: str | None, package_manager: str | None) -> InstallKind | None:
    """OpenClaw's own classification (`update status --json`), mapped; None when it does not know."""
    if install_kind == "git":
        return InstallKind.GIT_CHECKOUT
    if install_kind == "package":
        return {
            "npm": InstallKind.NPM_GLOBAL,
            "pnpm": InstallKind.PNPM_GLOBAL,
            "bun": InstallKind.BUN_GLOBAL,
        }.get(package_manager or "")
    return None


def in_container() -> bool:
    return Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()


def node_for(binary: Path, process_env: Mapping[str, str]) -> Path | None:
    """The Node executable that runs `binary`: its shebang's absolute path, else `node` on PATH."""
    try:
        with binary.open("rb") as handle:
            first = handle.readline(512).decode("utf-8", errors="replace").strip()
    except OSError:
        first = ""
    if first.startswith("#!"):
        parts = first[2:].split()
        if parts and Path(parts[0]).name == "node" and Path(parts[0]).is_absolute():
            return Path(parts[0])
    found = shutil.which("node", path=process_env.get("PATH"))
    return Path(found) if found else None


def node_runtime(binary: Path, process_env: Mapping[str, str], *, timeout: float) -> NodeRuntime | None:
    node = node_for(binary, process_env)
    if node is None:
        return None
    try:
        result = proc.run([str(node), "--version"], timeout=timeout, env=process_env)
    except ClawkeeperError:
        return NodeRuntime(path=node, version=None)
    version = result.stdout.strip() if result.ok else ""
    return NodeRuntime(path=node, version=version.removeprefix("v") or None)


def systemd_unit_name(profile: str | None) -> str:
    return f"openclaw-gateway-{profile}.service" if profile else "openclaw-gateway.service"


def find_service_unit(
    *,
    home: Path,
    profile: str | None,
    env: Mapping[str, str],
    timeout: float,
    system_dir: Path = Path("/etc/systemd/system"),
) -> ServiceUnit | None:
    """The gateway's systemd unit (user unit first, then a system unit), with `is-active` if we can ask."""
    name = systemd_unit_name(profile)
    config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    candidates = [
        ("systemd-user", config_home / "systemd" / "user" / name, ["--user"]),
        ("systemd-system", system_dir / name, []),
    ]
    for manager, path, scope in candidates:
        if not path.is_file():
            continue
        active = _is_active(name, scope, env, timeout)
        return ServiceUnit(manager=manager, name=name, path=path, active=active)
    return None


def _is_active(name: str, scope: list[str], env: Mapping[str, str], timeout: float) -> bool | None:
    systemctl = shutil.which("systemctl", path=env.get("PATH"))
    if systemctl is None:
        return None
    try:
        result = proc.run([systemctl, *scope, "is-active", name], timeout=timeout, env=env)
    except ClawkeeperError:
        return None
    state = result.stdout.strip()
    if state == "active":
        return True
    if state in ("inactive", "failed", "activating", "deactivating"):
        return False
    return None  # no user bus, unknown answer: we cannot tell
