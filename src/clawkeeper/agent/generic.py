"""`GenericAdapter`: any self-hosted agent clawkeeper knows only through commands and URLs.

Configured in `[agent.generic]` (see `GenericAgentSettings`): a command that prints the version,
liveness and readiness URLs, a restart command and the paths that hold the agent's state. It
answers the same four questions as the OpenClaw adapter, with what such an agent can tell:
no busy signal (busy is unknown), and one gate — do the configured state paths exist.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from clawkeeper.agent.adapter import (
    BusyState,
    Discovery,
    EndpointCheck,
    Finding,
    GateResult,
    GatewayEndpoint,
    Health,
    InstallKind,
)
from clawkeeper.config import GenericAgentSettings
from clawkeeper.effects import http, proc
from clawkeeper.errors import AgentNotFound, ClawkeeperError, UsageError
from clawkeeper.outcomes import Outcome

HTTP_TIMEOUT_S = 5.0


class GenericAdapter:
    """AgentAdapter for an agent described by `[agent.generic]` settings."""

    def __init__(self, settings: GenericAgentSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.settings.name

    def _program(self) -> Path | None:
        if not self.settings.version_command:
            return None
        found = shutil.which(self.settings.version_command[0])
        return Path(found) if found else None

    def discover(self) -> Discovery:
        notes: list[str] = []
        searched: list[str] = []
        cli_version: str | None = None
        command = self.settings.version_command
        program = self._program()
        if command:
            searched.append(f"version_command: {' '.join(proc.redact_argv(command))}")
            if program is None:
                raise AgentNotFound(
                    f"{self.name}: version command program {command[0]!r} was not found",
                    hint="install the agent or fix agent.generic.version_command in clawkeeper.toml",
                )
            try:
                result = proc.run(command, timeout=self.settings.command_timeout)
            except ClawkeeperError as exc:
                notes.append(f"version command failed: {exc.message}")
            else:
                lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
                if result.ok and lines:
                    cli_version = lines[0]
                else:
                    notes.append(f"version command exited {result.returncode}: {result.stderr_tail()}")
        else:
            notes.append("no version_command configured; the version is unknown")
        for path in self.settings.state_paths:
            searched.append(f"state path: {path}")
            if not path.exists():
                notes.append(f"state path {path} does not exist")
        return Discovery(
            agent=self.name,
            target="generic",
            binary=program,
            install_kind=InstallKind.GENERIC,
            cli_version=cli_version,
            state_dir=self.settings.state_paths[0] if self.settings.state_paths else None,
            gateway=GatewayEndpoint(url=self.settings.health_url),
            searched=tuple(searched),
            notes=tuple(notes),
        )

    @staticmethod
    def _check(url: str) -> EndpointCheck:
        response = http.get(url, timeout=HTTP_TIMEOUT_S)
        if isinstance(response, http.HttpFailure):
            return EndpointCheck(url=url, status=None, ok=False, latency_ms=None, error=response.reason)
        body: Any = response.json_or_none()
        return EndpointCheck(
            url=url,
            status=response.status,
            ok=200 <= response.status < 300,
            latency_ms=round(response.elapsed_s * 1000, 1),
            body=body if isinstance(body, dict) else None,
            error=None if 200 <= response.status < 300 else f"HTTP {response.status}",
        )

    def health(self) -> Health:
        if not self.settings.health_url:
            return Health(live=False, ready=False, error="no health_url configured for this agent")
        live_check = self._check(self.settings.health_url)
        checks = [live_check]
        ready = live_check.ok
        if self.settings.ready_url:
            ready_check = self._check(self.settings.ready_url)
            checks.append(ready_check)
            ready = ready_check.ok
        errors = [f"{c.url}: {c.error}" for c in checks if c.error]
        return Health(
            live=live_check.ok,
            ready=ready,
            checks=tuple(checks),
            error="; ".join(errors) if errors else None,
        )

    def busy(self) -> BusyState:
        return BusyState(busy=None, source="generic", error="a generic agent exposes no busy signal")

    def gates(self) -> list[GateResult]:
        if not self.settings.state_paths:
            return []
        missing = [p for p in self.settings.state_paths if not p.exists()]
        findings = tuple(
            Finding(
                check_id="generic/state-path",
                severity="error",
                message="configured state path does not exist",
                path=str(p),
                fix_hint="fix agent.generic.state_paths or restore the data",
            )
            for p in missing
        )
        if missing:
            outcome = Outcome.failed(
                f"{len(missing)} of {len(self.settings.state_paths)} state paths missing"
            )
        else:
            outcome = Outcome.passed(f"all {len(self.settings.state_paths)} state paths exist")
        return [GateResult("state paths", outcome, findings)]

    def restart(self) -> proc.CommandResult:
        """Run `restart_command`. Changes agent state, so it is not part of AgentAdapter: callers
        (the update runbook) record it in the ledger as a step first."""
        if not self.settings.restart_command:
            raise UsageError(
                f"{self.name}: no restart_command configured",
                hint="set agent.generic.restart_command in clawkeeper.toml",
            )
        return proc.run(self.settings.restart_command, timeout=self.settings.command_timeout, check=True)
