"""Facts about the OpenClaw being backed up, recorded in each snapshot so a restore knows which
release the state belongs to: the CLI version and the paths the target points at."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.openclaw.versions import parse_cli_version
from clawkeeper.backup.sources import OpenClawPaths
from clawkeeper.effects import proc
from clawkeeper.errors import ClawkeeperError


@dataclass(frozen=True)
class AgentFacts:
    paths: OpenClawPaths
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _workspace_from_env(env: dict[str, str]) -> tuple[Path, ...]:
    raw = env.get("OPENCLAW_WORKSPACE_DIR")
    return (Path(raw),) if raw else ()


def openclaw_facts(target: OpenClawTarget, *, timeout: float = 30.0, ask_version: bool = True) -> AgentFacts:
    """Paths from the target, and the version its `openclaw --version` reports (if it answers)."""
    env = target.process_env()
    paths = OpenClawPaths(
        state_dir=target.state_dir,
        config_path=target.config_path,
        workspaces=_workspace_from_env(env),
    )
    meta: dict[str, Any] = {"agent": "openclaw", "target": target.label}
    warnings: list[str] = []
    if ask_version:
        try:
            result = proc.run(target.argv("--version"), timeout=timeout, env=env)
            parsed = parse_cli_version(result.stdout) if result.ok else None
            if parsed is not None:
                meta["openclaw_version"] = parsed.version
                if parsed.commit:
                    meta["openclaw_commit"] = parsed.commit
            else:
                warnings.append(f"`openclaw --version` gave no version (exit {result.returncode})")
        except ClawkeeperError as exc:
            warnings.append(f"could not ask OpenClaw its version: {exc.message}")
    if target.state_dir is None:
        fallback = os.environ.get("OPENCLAW_STATE_DIR")
        if fallback:
            paths = OpenClawPaths(Path(fallback), paths.config_path, paths.workspaces, paths.extra)
    return AgentFacts(paths=paths, meta=meta, warnings=tuple(warnings))
