"""The instance state file (`lab.json`) and the gateway token.

`lab.json` is rewritten atomically after every change, so a crash leaves the previous complete
version. It says which version and port the instance uses, how far `lab up` got (`phase`), and
which processes the lab started (PID + start time). It never holds the token, only its
fingerprint; the token itself is in `gateway.token` (0600) next to it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawkeeper.agent.sandbox.procscan import ProcessRef
from clawkeeper.effects.fs import atomic_write_json, atomic_write_text
from clawkeeper.errors import SandboxError

STATE_FORMAT = 1

# How far `lab up` got. An instance found in "created" was interrupted before onboarding finished
# and is onboarded again from scratch; "onboarded" and later have a usable OpenClaw state.
PHASES = ("created", "onboarded", "starting", "running", "stopped")
PROCESS_ROLES = ("holder", "holder_parent", "bridge", "gateway_wrapper", "gateway")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class InstanceState:
    name: str
    version: str
    port: int
    isolation: str  # namespace | userns | none
    phase: str = "created"
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    token_fingerprint: str | None = None
    node: dict[str, str] = field(default_factory=dict)  # path, version, source, bin_dir
    runtime: str | None = None  # the runtime prefix this instance runs
    processes: dict[str, ProcessRef] = field(default_factory=dict)  # role -> process
    namespaces: dict[str, str] = field(default_factory=dict)  # kind -> link, e.g. pid -> pid:[...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "version": self.version,
            "port": self.port,
            "isolation": self.isolation,
            "phase": self.phase,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "token_fingerprint": self.token_fingerprint,
            "node": dict(self.node),
            "runtime": self.runtime,
            "processes": {role: ref.to_json() for role, ref in self.processes.items()},
            "namespaces": dict(self.namespaces),
        }

    @classmethod
    def from_json(cls, data: Any) -> InstanceState:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not a lab.json this clawkeeper understands")
        processes: dict[str, ProcessRef] = {}
        for role, value in (data.get("processes") or {}).items():
            ref = ProcessRef.from_json(value)
            if ref is not None and role in PROCESS_ROLES:
                processes[role] = ref
        phase = str(data.get("phase", "created"))
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            port=int(data["port"]),
            isolation=str(data["isolation"]),
            phase=phase if phase in PHASES else "created",
            created_at=str(data.get("created_at", "")),
            updated_at=str(data.get("updated_at", "")),
            token_fingerprint=data.get("token_fingerprint"),
            node={str(k): str(v) for k, v in (data.get("node") or {}).items()},
            runtime=data.get("runtime"),
            processes=processes,
            namespaces={str(k): str(v) for k, v in (data.get("namespaces") or {}).items()},
        )

    def evolve(self, **changes: Any) -> InstanceState:
        """A copy with `changes` applied and `updated_at` refreshed."""
        return replace(self, updated_at=now_iso(), **changes)

    def with_process(self, role: str, ref: ProcessRef | None) -> InstanceState:
        processes = dict(self.processes)
        if ref is None:
            processes.pop(role, None)
        else:
            processes[role] = ref
        return self.evolve(processes=processes)

    def live_processes(self) -> dict[str, ProcessRef]:
        """The recorded processes that still run (same PID *and* start time)."""
        return {role: ref for role, ref in self.processes.items() if ref.alive()}

    def stale_processes(self) -> dict[str, ProcessRef]:
        """Recorded processes that are gone (or whose PID now belongs to someone else)."""
        return {role: ref for role, ref in self.processes.items() if not ref.alive()}


def load_state(path: Path) -> InstanceState | None:
    """The instance state, or None when there is no state file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return InstanceState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            f"{path} is damaged or from a newer clawkeeper ({exc})",
            hint="inspect it, or remove the instance with `clawkeeper lab destroy --name <name>`",
        ) from exc


def save_state(path: Path, state: InstanceState) -> None:
    atomic_write_json(path, state.to_json())


def new_token() -> str:
    return secrets.token_urlsafe(32)


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe to show and store."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def read_or_create_token(path: Path) -> str:
    """The instance's gateway token, created (0600) on first use."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if not token:
        token = new_token()
        atomic_write_text(path, token + "\n")
    return token
