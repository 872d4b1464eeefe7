"""The `AgentAdapter` interface: what clawkeeper needs to know about any self-hosted agent.

An adapter answers four questions without changing anything: what is installed and where
(`discover`), is it alive and ready (`health`), is it doing work right now (`busy`), and do its own
read-only checks pass (`gates`). Every answer is a plain dataclass with a `to_json()` whose shape
is documented in docs/json-output.md; unknown facts are `None`, never guessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from clawkeeper.outcomes import Outcome


class InstallKind(StrEnum):
    NPM_GLOBAL = "npm-global"
    PNPM_GLOBAL = "pnpm-global"
    BUN_GLOBAL = "bun-global"
    GIT_CHECKOUT = "git-checkout"
    DOCKER = "docker"
    NIX = "nix"
    LOCAL_PREFIX = "local-prefix"
    GENERIC = "generic"
    UNKNOWN = "unknown"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class _JsonMixin:
    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True)
class GatewayEndpoint(_JsonMixin):
    port: int | None = None
    bind: str | None = None  # loopback | lan | tailnet | auto | custom
    auth_mode: str | None = None  # none | token | password | trusted-proxy
    url: str | None = None  # HTTP base URL clawkeeper uses to reach it


@dataclass(frozen=True)
class ServiceUnit(_JsonMixin):
    manager: str  # systemd-user | systemd-system | launchd | none
    name: str
    path: Path | None = None
    active: bool | None = None


@dataclass(frozen=True)
class NodeRuntime(_JsonMixin):
    path: Path | None
    version: str | None


@dataclass(frozen=True)
class Discovery(_JsonMixin):
    """What is installed, and where. `searched` says where clawkeeper looked, for error messages."""

    agent: str  # "openclaw", or the generic agent's name
    target: str  # "live", "lab:<instance>", ...
    binary: Path | None = None
    package_root: Path | None = None
    install_kind: InstallKind = InstallKind.UNKNOWN
    cli_version: str | None = None
    build: dict[str, Any] | None = None  # commit, builtAt, buildId when known
    state_dir: Path | None = None
    config_path: Path | None = None
    profile: str | None = None
    gateway: GatewayEndpoint = field(default_factory=GatewayEndpoint)
    service: ServiceUnit | None = None
    node: NodeRuntime | None = None
    searched: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointCheck(_JsonMixin):
    """One HTTP probe: `status` is None when nothing answered (`error` says why)."""

    url: str
    status: int | None
    ok: bool
    latency_ms: float | None
    body: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Health(_JsonMixin):
    live: bool
    ready: bool
    started: bool | None = None
    failing: tuple[str, ...] = ()  # /readyz failing[] when the gateway gives it
    running_version: str | None = None
    checks: tuple[EndpointCheck, ...] = ()
    rpc: dict[str, Any] | None = None  # summary of `openclaw health --json`
    error: str | None = None  # why rpc health could not be read, if it could not


@dataclass(frozen=True)
class BusyState(_JsonMixin):
    """Is the agent doing work? `busy` is None when it could not be determined (see `error`)."""

    busy: bool | None
    active: dict[str, int] = field(default_factory=dict)  # counters from the gateway
    running_tasks: int | None = None
    running_cron_jobs: int | None = None
    source: str = ""
    error: str | None = None
    samples: int = 1  # status samples taken; more than one when passing requests were re-checked


@dataclass(frozen=True)
class Finding(_JsonMixin):
    check_id: str
    severity: str  # info | warning | error | critical
    message: str
    path: str | None = None
    fix_hint: str | None = None


@dataclass(frozen=True)
class GateResult:
    """A read-only check the agent provides (doctor lint, config validation, ...)."""

    name: str
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    duration_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "duration_s": self.duration_s,
        }


@runtime_checkable
class AgentAdapter(Protocol):
    """One installation of an agent. Implementations must not change agent state."""

    @property
    def name(self) -> str: ...

    def discover(self) -> Discovery:
        """Describe the installation. Raises AgentNotFound (with where it looked) if there is none."""
        ...

    def health(self) -> Health:
        """Probe liveness and readiness. Never raises for a down gateway: report it."""
        ...

    def busy(self) -> BusyState:
        """Report active work. Never raises for a down gateway: busy=None with the reason."""
        ...

    def gates(self) -> list[GateResult]:
        """Run the agent's read-only self-checks."""
        ...
