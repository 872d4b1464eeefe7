"""Which agent a command acts on: the live install, a lab instance, or a generic agent.

`auto` (the default) prefers a live OpenClaw on this machine and falls back to a running
clawkeeper lab instance when none is installed, saying so in the result's target label.
"""

from __future__ import annotations

from collections.abc import Mapping

from clawkeeper.agent import TARGET_HELP
from clawkeeper.agent.adapter import AgentAdapter
from clawkeeper.agent.generic import GenericAdapter
from clawkeeper.agent.openclaw.adapter import OpenClawAdapter
from clawkeeper.agent.openclaw.discovery import find_live_target
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.sandbox import running_lab_targets
from clawkeeper.config import Settings
from clawkeeper.errors import AgentNotFound, UsageError


def _lab_target(settings: Settings, name: str | None) -> OpenClawTarget:
    running = running_lab_targets(settings.lab)
    if name is not None:
        for target in running:
            if target.label == f"lab:{name}":
                return target
        raise AgentNotFound(
            f"no running lab instance named {name!r}",
            hint=f"start it with `clawkeeper lab up --name {name}`; `clawkeeper lab status` lists instances",
        )
    if not running:
        raise AgentNotFound(
            f"no lab instance is running under {settings.lab.root}",
            hint="start one with `clawkeeper lab up`",
        )
    return running[0]


def _live(settings: Settings, env: Mapping[str, str]) -> OpenClawTarget:
    # a lab binary on PATH must never be mistaken for the user's own install
    return find_live_target(settings.agent.openclaw, env, exclude_roots=[settings.lab.root])


def resolve_target(
    settings: Settings, choice: str | None, env: Mapping[str, str] | None = None
) -> OpenClawTarget:
    import os

    environ = os.environ if env is None else env
    selected = (choice or settings.agent.target).strip()
    if selected == "live":
        return _live(settings, environ)
    if selected == "lab":
        return _lab_target(settings, None)
    if selected.startswith("lab:"):
        return _lab_target(settings, selected.split(":", 1)[1])
    if selected != "auto":
        raise UsageError(f"unknown target {selected!r}", hint=f"use {TARGET_HELP}")
    try:
        return _live(settings, environ)
    except AgentNotFound as live_error:
        running = running_lab_targets(settings.lab)
        if running:
            return running[0]
        raise AgentNotFound(
            f"{live_error.message}; no clawkeeper lab instance is running either",
            hint="install OpenClaw, set agent.openclaw.binary in clawkeeper.toml, or run `clawkeeper lab up`",
        ) from live_error


def resolve_adapter(settings: Settings, choice: str | None = None) -> AgentAdapter:
    if settings.agent.kind == "generic":
        return GenericAdapter(settings.agent.generic)
    target = resolve_target(settings, choice)
    return OpenClawAdapter(target, timeout=settings.agent.openclaw.command_timeout)
