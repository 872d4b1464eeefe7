"""Install facts from disk: the package behind a binary, its build, how it was installed, its Node."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from clawkeeper.agent.adapter import InstallKind
from clawkeeper.agent.openclaw.install import (
    classify_install,
    find_service_unit,
    kind_from_update_status,
    node_for,
    read_build,
    resolve_package_root,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw"


def package(root: Path, version: str = "2026.9.6") -> Path:
    (root / "dist").mkdir(parents=True)
    (root / "openclaw.mjs").write_text("#!/usr/bin/env node\n")
    (root / "package.json").write_text((FIXTURES / version / "package.json").read_text())
    (root / "dist" / "build-info.json").write_text((FIXTURES / version / "build-info.json").read_text())
    return root


def test_npm_symlinked_bin(tmp_path: Path) -> None:
    root = package(tmp_path / "lib" / "node_modules" / "openclaw")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "openclaw").symlink_to("../lib/node_modules/openclaw/openclaw.mjs")
    assert resolve_package_root(tmp_path / "bin" / "openclaw") == root


def test_pnpm_style_shell_shim(tmp_path: Path) -> None:
    root = package(tmp_path / "pnpm" / "global" / "5" / "node_modules" / "openclaw")
    shim = tmp_path / "pnpm" / "openclaw"
    shim.write_text(
        '#!/bin/sh\nbasedir=$(dirname "$(echo "$0" | sed -e \'s,\\\\,/,g\')")\n'
        'exec node  "$basedir/global/5/node_modules/openclaw/openclaw.mjs" "$@"\n'
    )
    assert resolve_package_root(shim) == root


def test_wrapper_without_entry_uses_the_prefix_layout(tmp_path: Path) -> None:
    root = package(tmp_path / "prefix" / "lib" / "node_modules" / "openclaw")
    wrapper = tmp_path / "prefix" / "bin" / "openclaw"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text('#!/bin/sh\nexec "$(dirname "$0")/../tools/node/bin/node" "$OPENCLAW_ENTRY" "$@"\n')
    assert resolve_package_root(wrapper) == root


def test_no_package_behind_a_binary(tmp_path: Path) -> None:
    lone = tmp_path / "openclaw"
    lone.write_text("#!/bin/sh\n")
    assert resolve_package_root(lone) is None
    assert resolve_package_root(tmp_path / "missing") is None


def test_build_facts(tmp_path: Path) -> None:
    build = read_build(package(tmp_path / "openclaw", "2026.8.2"))
    info = json.loads((FIXTURES / "2026.8.2" / "build-info.json").read_text())
    assert build == {
        "version": "2026.8.2",
        "commit": info["commit"],
        "builtAt": info["builtAt"],
        "buildId": info["buildId"],
        "schemaVersions": {"state": 15, "agent": 19},
        "nodeEngines": ">=22.22.3 <23 || >=24.15.0 <25 || >=25.9.0",
    }
    assert read_build(tmp_path / "nowhere") is None


HOME = Path("/home/u")


@pytest.mark.parametrize(
    ("root", "env", "npm_root", "container", "kind"),
    [
        ("/usr/lib/node_modules/openclaw", {}, "/usr/lib/node_modules", False, InstallKind.NPM_GLOBAL),
        ("/opt/g/lib/node_modules/openclaw", {}, None, False, InstallKind.NPM_GLOBAL),
        ("/home/u/.openclaw/lib/node_modules/openclaw", {}, None, False, InstallKind.LOCAL_PREFIX),
        ("/home/u/proj/node_modules/openclaw", {}, None, False, InstallKind.LOCAL_PREFIX),
        ("/home/u/.bun/install/global/node_modules/openclaw", {}, None, False, InstallKind.BUN_GLOBAL),
        (
            "/home/u/.local/share/pnpm/global/5/node_modules/openclaw",
            {},
            None,
            False,
            InstallKind.PNPM_GLOBAL,
        ),
        ("/nix/store/abc-openclaw/lib/openclaw", {}, None, False, InstallKind.NIX),
        ("/usr/lib/node_modules/openclaw", {"OPENCLAW_NIX_MODE": "1"}, None, False, InstallKind.NIX),
        ("/app", {}, None, True, InstallKind.DOCKER),
        # a container that npm-installed OpenClaw is an npm install, not the Docker image
        ("/usr/local/lib/node_modules/openclaw", {}, None, True, InstallKind.NPM_GLOBAL),
        ("/srv/odd/place", {}, None, False, InstallKind.UNKNOWN),
    ],
)
def test_install_kind_from_location(
    root: str, env: dict[str, str], npm_root: str | None, container: bool, kind: InstallKind
) -> None:
    guess = classify_install(
        Path(root),
        env=env,
        home=HOME,
        npm_global_root=Path(npm_root) if npm_root else None,
        in_container=container,
    )
    assert guess.kind is kind
    assert guess.reason


def test_git_checkout(tmp_path: Path) -> None:
    checkout = package(tmp_path / "openclaw")
    (checkout / ".git").mkdir()
    assert classify_install(checkout, env={}, home=HOME).kind is InstallKind.GIT_CHECKOUT


def test_local_prefix_with_its_own_node(tmp_path: Path) -> None:
    root = tmp_path / "opt-oc" / "lib" / "node_modules" / "openclaw"
    (tmp_path / "opt-oc" / "tools" / "node").mkdir(parents=True)
    assert classify_install(root, env={}, home=HOME).kind is InstallKind.LOCAL_PREFIX


@pytest.mark.parametrize(
    ("install_kind", "manager", "kind"),
    [
        ("git", "pnpm", InstallKind.GIT_CHECKOUT),
        ("package", "npm", InstallKind.NPM_GLOBAL),
        ("package", "pnpm", InstallKind.PNPM_GLOBAL),
        ("package", "bun", InstallKind.BUN_GLOBAL),
        ("package", "unknown", None),
        ("unknown", "unknown", None),
        (None, None, None),
    ],
)
def test_kind_from_update_status(
    install_kind: str | None, manager: str | None, kind: InstallKind | None
) -> None:
    assert kind_from_update_status(install_kind, manager) is kind


def test_node_from_shebang_or_path(tmp_path: Path) -> None:
    node = tmp_path / "bin" / "node"
    node.parent.mkdir()
    node.write_text("#!/bin/sh\n")
    node.chmod(node.stat().st_mode | stat.S_IXUSR)
    env_script = tmp_path / "a.mjs"
    env_script.write_text("#!/usr/bin/env node\n")
    assert node_for(env_script, {"PATH": str(tmp_path / "bin")}) == node
    pinned = tmp_path / "b.mjs"
    pinned.write_text("#!/opt/node24/bin/node --enable-source-maps\n")
    assert node_for(pinned, {"PATH": str(tmp_path / "bin")}) == Path("/opt/node24/bin/node")
    assert node_for(env_script, {"PATH": str(tmp_path / "empty")}) is None


def test_service_unit_per_profile_and_unknown_activity_without_systemctl(tmp_path: Path) -> None:
    units = tmp_path / ".config" / "systemd" / "user"
    units.mkdir(parents=True)
    (units / "openclaw-gateway-work.service").write_text("[Service]\n")
    env = {"PATH": str(tmp_path / "no-systemctl")}
    unit = find_service_unit(home=tmp_path, profile="work", env=env, timeout=5, system_dir=tmp_path / "etc")
    assert unit is not None
    assert (unit.manager, unit.name, unit.active) == ("systemd-user", "openclaw-gateway-work.service", None)
    assert (
        find_service_unit(home=tmp_path, profile=None, env=env, timeout=5, system_dir=tmp_path / "etc")
        is None
    )


def test_system_unit_reported_inactive(tmp_path: Path) -> None:
    system_dir = tmp_path / "etc"
    system_dir.mkdir()
    (system_dir / "openclaw-gateway.service").write_text("[Service]\nUser=claw\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    systemctl = tools / "systemctl"
    systemctl.write_text('#!/bin/sh\n[ "$1" = "is-active" ] && echo inactive\nexit 3\n')
    systemctl.chmod(0o755)
    unit = find_service_unit(
        home=tmp_path, profile=None, env={"PATH": str(tools)}, timeout=5, system_dir=system_dir
    )
    assert unit is not None
    assert (unit.manager, unit.active) == ("systemd-system", False)
