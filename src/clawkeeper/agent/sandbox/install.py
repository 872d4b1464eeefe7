"""Install one OpenClaw version into the lab, once, so every instance of that version shares it.

`npm install -g --prefix <root>/runtimes/openclaw-<V>` is the "global into a private prefix" form
that `openclaw update` accepts later. npm writes into a temporary sibling
(`.openclaw-<V>.partial-<pid>`); only after the binary runs and reports the right version is it
renamed into place, so an interrupted install never looks complete. A per-version lock keeps two
clawkeeper processes from installing the same version at once, and whoever next holds that lock
removes partial directories left by a killed install. The npm cache stays inside the lab and
installs prefer it, so a reinstall works offline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.versions import parse_cli_version
from clawkeeper.agent.sandbox import procscan
from clawkeeper.agent.sandbox.layout import PARTIAL_INFIX, RUNTIME_MARKER, LabLayout
from clawkeeper.agent.sandbox.locks import file_lock
from clawkeeper.agent.sandbox.node import NodeToolchain
from clawkeeper.agent.sandbox.progress import Progress, ProgressEvent, StepRecorder, no_progress, unrecorded
from clawkeeper.agent.sandbox.registry import node_range_of
from clawkeeper.effects import proc
from clawkeeper.effects.fs import atomic_write_json, ensure_dir, fsync_dir
from clawkeeper.errors import ClawkeeperError, CommandFailed, SandboxError

PACKAGE = "openclaw"


@dataclass(frozen=True)
class Runtime:
    """An installed OpenClaw: `<prefix>/bin/openclaw` plus its package directory."""

    version: str
    prefix: Path

    @property
    def binary(self) -> Path:
        return self.prefix / "bin" / "openclaw"

    @property
    def package_dir(self) -> Path:
        return self.prefix / "lib" / "node_modules" / PACKAGE

    def package_json(self) -> dict[str, Any]:
        try:
            data = json.loads((self.package_dir / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def node_range(self) -> str | None:
        return node_range_of(self.package_json())

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "prefix": str(self.prefix), "binary": str(self.binary)}


def installed_runtime(layout: LabLayout, version: str) -> Runtime | None:
    """The complete install of `version`, or None. Complete = renamed into place with its marker."""
    runtime = Runtime(version=version, prefix=layout.runtime_dir(version))
    if (runtime.prefix / RUNTIME_MARKER).is_file() and runtime.binary.exists():
        return runtime
    return None


def installed_versions(layout: LabLayout) -> list[str]:
    if not layout.runtimes.is_dir():
        return []
    out = []
    for entry in layout.runtimes.iterdir():
        if entry.name.startswith("openclaw-") and (entry / RUNTIME_MARKER).is_file():
            out.append(entry.name.removeprefix("openclaw-"))
    return sorted(out)


def npm_env(toolchain: NodeToolchain, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """npm's environment: this Node first on PATH, and no notices or audits."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{toolchain.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "NO_COLOR": "1",
            # Node's compile cache defaults to /tmp/node-compile-cache; keep this host's /tmp clean.
            "NODE_DISABLE_COMPILE_CACHE": "1",
        }
    )
    return env


def install_argv(
    toolchain: NodeToolchain, prefix: Path, cache: Path, version: str, *, registry: str | None = None
) -> list[str]:
    argv = [
        *toolchain.npm,
        "install",
        "--global",
        "--prefix",
        str(prefix),
        "--cache",
        str(cache),
        "--prefer-offline",
        "--no-fund",
        "--no-audit",
        "--loglevel=error",
    ]
    if registry:
        argv += ["--registry", registry]
    return [*argv, f"{PACKAGE}@{version}"]


def verify_runtime(runtime: Runtime, toolchain: NodeToolchain) -> str:
    """Run `openclaw --version` and insist it is the version we meant. Returns its output line."""
    result = proc.run([str(runtime.binary), "--version"], timeout=60, env=npm_env(toolchain))
    found = parse_cli_version(result.stdout)
    if not result.ok or found is None:
        raise SandboxError(
            f"the freshly installed openclaw {runtime.version} does not run: {result.stderr_tail()}",
            hint=f"see the npm log; Node {toolchain.version} may not suit this version",
        )
    if found.version != runtime.version:
        raise SandboxError(
            f"npm installed openclaw {found.version}, not {runtime.version}",
            hint="the registry or npm cache served another version; clear <lab root>/cache/npm and retry",
        )
    return result.stdout.strip().splitlines()[0]


def _remove_partial(partial: Path) -> None:
    """Stop any npm still writing into `partial` (its clawkeeper was killed), then remove it."""
    for pid in procscan.processes_with_env(procscan.INSTALL_MARKER_ENV, str(partial)):
        proc.terminate(pid, timeout=5)
    shutil.rmtree(partial, ignore_errors=True)


def clean_partial_installs(layout: LabLayout) -> list[Path]:
    """Remove `.partial-*` install dirs whose installer is gone (its version lock is free)."""
    removed: list[Path] = []
    if not layout.runtimes.is_dir():
        return removed
    for entry in sorted(layout.runtimes.iterdir()):
        if PARTIAL_INFIX not in entry.name or not entry.name.startswith(".openclaw-"):
            continue
        version = entry.name.removeprefix(".openclaw-").split(PARTIAL_INFIX)[0]
        try:
            with file_lock(layout.runtime_lock(version), what=f"the install of openclaw {version}"):
                _remove_partial(entry)
                removed.append(entry)
        except ClawkeeperError:
            continue  # an install of that version is running right now; leave its directory
    return removed


def _log_tail(path: Path, lines: int = 6) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())[-600:]
    return ""


def ensure_runtime(
    layout: LabLayout,
    version: str,
    toolchain: NodeToolchain,
    *,
    timeout: float,
    registry: str | None = None,
    progress: Progress = no_progress,
    record: StepRecorder = unrecorded,
) -> tuple[Runtime, bool]:
    """The runtime for `version`, installing it if needed. Returns (runtime, installed_now)."""
    existing = installed_runtime(layout, version)
    if existing is not None:
        return existing, False
    ensure_dir(layout.runtimes, 0o755)

    def waiting(elapsed: float) -> None:
        progress(ProgressEvent("install", f"waiting for another install of {version}", "tick", elapsed))

    with file_lock(
        layout.runtime_lock(version),
        what=f"the install of openclaw {version}",
        wait_s=timeout,
        on_wait=waiting,
    ):
        existing = installed_runtime(layout, version)  # someone else may have finished it meanwhile
        if existing is not None:
            return existing, False
        final = layout.runtime_dir(version)
        for leftover in layout.runtimes.glob(f".openclaw-{version}{PARTIAL_INFIX}*"):
            _remove_partial(leftover)
        if final.exists():  # a directory without the marker was never completed: not ours to trust
            shutil.rmtree(final)
        partial = layout.runtime_partial_dir(version, os.getpid())
        log = layout.install_log(version)
        ensure_dir(log.parent)
        log.write_text("")
        argv = install_argv(toolchain, partial, layout.npm_cache, version, registry=registry)
        intent = {"version": version, "prefix": str(final), "node": toolchain.version}
        started = time.monotonic()
        with record("install openclaw", intent) as detail:
            progress(ProgressEvent("install", f"npm install openclaw@{version}", "start"))
            try:
                env = {**npm_env(toolchain), procscan.INSTALL_MARKER_ENV: str(partial)}
                child = proc.spawn(argv, log_path=log, env=env)
                code = proc.wait(
                    child,
                    timeout=timeout,
                    argv=argv,
                    on_tick=lambda s: progress(
                        ProgressEvent("install", f"npm install openclaw@{version}", "tick", s)
                    ),
                )
                if code != 0:
                    raise CommandFailed(
                        f"npm could not install openclaw@{version} (exit {code})",
                        hint=f"{_log_tail(log)} (full log: {log})",
                    )
                runtime = Runtime(version=version, prefix=partial)
                shown = verify_runtime(runtime, toolchain)
                atomic_write_json(
                    partial / RUNTIME_MARKER,
                    {
                        "version": version,
                        "cli": shown,
                        "node": toolchain.to_json(),
                        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                    mode=0o644,
                )
                partial.rename(final)
                fsync_dir(layout.runtimes)
            except BaseException:
                _remove_partial(partial)
                raise
            detail["cli"] = shown
        progress(
            ProgressEvent("install", f"installed openclaw {version}", "done", time.monotonic() - started)
        )
        return Runtime(version=version, prefix=final), True
