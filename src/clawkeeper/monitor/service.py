"""The systemd user unit that runs the keeper: `clawkeeper service install/uninstall/status`.

The unit runs `clawkeeper up --no-live-view` with the absolute path of the interpreter clawkeeper
is installed in (a virtualenv's `bin/python` is kept as is, not resolved, so the venv applies) and
the config file in use. It holds no secrets: those stay in files the config points at. Stopping
sends SIGTERM to the keeper alone (`KillMode=mixed`), which drains: running jobs get
`monitor.schedule.drain_grace`, then the keeper stops them; `TimeoutStopSec` leaves room for that
before systemd kills what is left.
"""

from __future__ import annotations

import difflib
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.effects import proc
from clawkeeper.effects.fs import atomic_write_text, ensure_dir, fsync_dir
from clawkeeper.errors import ClawkeeperError, ResourceConflict

UNIT_NAME = "clawkeeper.service"
UP_ARGS = ("up", "--no-live-view")
MARKER = "# Written by `clawkeeper service install`; `clawkeeper service install --force` rewrites it."
UNIT_MODE = 0o644  # systemd reads unit files; nothing secret is in one
STOP_MARGIN_S = 30.0  # beyond the drain grace: stopping jobs, the last evaluation, exit
SYSTEMCTL_TIMEOUT_S = 30.0


def unit_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/systemd/user` (default `~/.config/systemd/user`)."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "systemd" / "user"


def unit_path(env: Mapping[str, str] | None = None) -> Path:
    return unit_dir(env) / UNIT_NAME


def exec_argv(config_path: Path | None, *, python: str | None = None) -> list[str]:
    """The keeper's command line: this interpreter, `-m clawkeeper`, the config, `up --no-live-view`."""
    argv = [os.path.abspath(python or sys.executable), "-m", "clawkeeper"]  # noqa: PTH100 - no symlink resolution
    if config_path is not None:
        argv += ["--config", str(config_path.absolute())]
    return [*argv, *UP_ARGS]


def systemd_quote(arg: str) -> str:
    """One ExecStart argument: `%` and `$` escaped, quoted when it holds spaces or quotes."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and not any(ch in escaped for ch in " \t\"'\\;"):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stop_timeout(drain_grace_s: float) -> int:
    return math.ceil(drain_grace_s + STOP_MARGIN_S)


def render_unit(argv: Sequence[str], *, drain_grace_s: float) -> str:
    """The unit file's text. Pure: the same inputs give the same bytes."""
    exec_start = " ".join(systemd_quote(a) for a in argv)
    return "\n".join(
        [
            MARKER,
            "[Unit]",
            "Description=clawkeeper keeper: monitoring, alerts and scheduled maintenance of the agent",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStart={exec_start}",
            "Restart=on-failure",
            "RestartSec=10s",
            "# SIGTERM to the keeper only: it lets running jobs finish, then stops them itself",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={stop_timeout(drain_grace_s)}s",
            "Environment=PYTHONUNBUFFERED=1",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


# --- systemctl -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemctlResult:
    argv: tuple[str, ...]
    ran: bool  # False: no systemctl on PATH
    ok: bool
    output: str  # stdout, else stderr (stripped, one line)

    def to_json(self) -> dict[str, Any]:
        return {"argv": list(self.argv), "ran": self.ran, "ok": self.ok, "output": self.output}


def systemctl(*args: str) -> SystemctlResult:
    """`systemctl --user *args`; never raises for a missing systemctl or a failure."""
    program = shutil.which("systemctl")
    argv = ("systemctl", "--user", *args)
    if program is None:
        return SystemctlResult(argv, ran=False, ok=False, output="systemctl not found")
    try:
        result = proc.run([program, "--user", *args], timeout=SYSTEMCTL_TIMEOUT_S)
    except ClawkeeperError as exc:
        return SystemctlResult(argv, ran=True, ok=False, output=exc.message)
    text = (result.stdout.strip() or result.stderr.strip()).replace("\n", " | ")
    return SystemctlResult(argv, ran=True, ok=result.ok, output=text[:300])


# --- install / uninstall / status ------------------------------------------------------------


@dataclass(frozen=True)
class InstallResult:
    path: Path
    text: str
    action: str  # "created", "replaced", "unchanged", or with --dry-run "would create", ...
    dry_run: bool
    reload: SystemctlResult | None = None
    next_steps: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    diff: str = ""  # unified diff from the existing unit, when there is a different one

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "action": self.action,
            "dry_run": self.dry_run,
            "unit": self.text,
            "diff": self.diff,
            "daemon_reload": self.reload.to_json() if self.reload else None,
            "next_steps": list(self.next_steps),
            "warnings": list(self.warnings),
        }


NEXT_STEPS = (
    f"systemctl --user enable --now {UNIT_NAME}",
    "loginctl enable-linger $USER   # keep it running when you are logged out, and start it at boot",
    f"journalctl --user -u {UNIT_NAME} -f   # its output",
)


def install(
    text: str,
    *,
    path: Path,
    force: bool = False,
    dry_run: bool = False,
    warnings: Sequence[str] = (),
) -> InstallResult:
    """Write the unit (atomically, 0644) and reload systemd. Refuses to replace a different unit
    without `force`."""
    existing = _read(path)
    diff = _diff(existing, text, path) if existing is not None and existing != text else ""
    if existing == text:
        action = "unchanged"
    elif existing is None:
        action = "create"
    elif force:
        action = "replace"
    elif dry_run:
        return InstallResult(path, text, "would refuse (differs; --force replaces it)", True, diff=diff)
    else:
        raise ResourceConflict(
            f"{path} exists and differs from the unit clawkeeper would write",
            hint="see the difference with `clawkeeper service install --dry-run`; replace it with --force",
        )
    if dry_run:
        verb = "unchanged" if action == "unchanged" else f"would {action}"
        return InstallResult(path, text, verb, True, warnings=tuple(warnings), diff=diff)
    reload: SystemctlResult | None = None
    if action != "unchanged":
        ensure_dir(path.parent, 0o755)
        atomic_write_text(path, text, mode=UNIT_MODE)
        reload = systemctl("daemon-reload")
    done = {"create": "created", "replace": "replaced"}.get(action, action)
    return InstallResult(path, text, done, False, reload, NEXT_STEPS, tuple(warnings), diff)


@dataclass(frozen=True)
class UninstallResult:
    path: Path
    action: str  # "removed", "not installed", "would remove"
    dry_run: bool
    commands: tuple[SystemctlResult, ...] = ()
    planned: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "action": self.action,
            "dry_run": self.dry_run,
            "commands": [c.to_json() for c in self.commands],
            "planned": list(self.planned),
        }


def uninstall(*, path: Path, force: bool = False, dry_run: bool = False) -> UninstallResult:
    """Stop and disable the service, remove the unit, reload systemd."""
    existing = _read(path)
    if existing is None:
        return UninstallResult(path, "not installed", dry_run)
    if not existing.startswith(MARKER) and not force:
        raise ResourceConflict(
            f"{path} was not written by clawkeeper",
            hint="remove it yourself, or pass --force to remove it anyway",
        )
    planned = (f"systemctl --user disable --now {UNIT_NAME}", f"rm {path}", "systemctl --user daemon-reload")
    if dry_run:
        return UninstallResult(path, "would remove", True, planned=planned)
    stopped = systemctl("disable", "--now", UNIT_NAME)
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)
    reload = systemctl("daemon-reload")
    return UninstallResult(path, "removed", False, (stopped, reload), planned)


@dataclass(frozen=True)
class ServiceStatus:
    path: Path
    installed: bool
    written_by_clawkeeper: bool
    current: bool  # the file is exactly what `service install` would write now
    enabled: str | None  # `systemctl --user is-enabled` (enabled, disabled, ...), None when unknown
    active: str | None  # `systemctl --user is-active` (active, inactive, failed, ...)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "installed": self.installed,
            "written_by_clawkeeper": self.written_by_clawkeeper,
            "current": self.current,
            "enabled": self.enabled,
            "active": self.active,
            "notes": list(self.notes),
        }


def status(*, path: Path, expected: str) -> ServiceStatus:
    existing = _read(path)
    notes: list[str] = []
    enabled = active = None
    if existing is not None and existing != expected:
        notes.append(
            "the unit differs from what `service install` writes now; `service install --force` updates it"
        )
    if existing is not None:
        for check in ("is-enabled", "is-active"):
            result = systemctl(check, UNIT_NAME)
            # both print their answer on stdout even when they exit non-zero (disabled, inactive)
            answer = result.output if result.ran and result.output and " " not in result.output else None
            if answer is None:
                notes.append(f"systemctl --user {check}: {result.output or 'no answer'}")
            if check == "is-enabled":
                enabled = answer
            else:
                active = answer
    return ServiceStatus(
        path=path,
        installed=existing is not None,
        written_by_clawkeeper=existing is not None and existing.startswith(MARKER),
        current=existing == expected,
        enabled=enabled,
        active=active,
        notes=tuple(notes),
    )


def _diff(before: str, after: str, path: Path) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"{path} (now)", f"{path} (new)"
    )
    return "".join(lines)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
