"""What the agent has loaded: its version, its plugins and its channels.

* `openclaw.version`: the version the running gateway reports (`gateway call status`) equals the
  installed CLI's (or `expect`). After an update that was never restarted they differ.
* `openclaw.plugins`: no enabled plugin is in a failed state, and every plugin in `require` is
  loaded. Users add the plugins they depend on.
* `openclaw.channels`: the gateway reports no channel status issues; skipped when no channel is
  configured (nothing to check is not a pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from clawkeeper.errors import OperationTimeout
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    as_dict,
    as_list,
    excerpt,
)
from clawkeeper.probes.kinds.gates import run_json
from clawkeeper.probes.kinds.rpc import failure_text, gateway_call

_VERSION_RE = re.compile(r"\b(\d{4}\.\d+\.\d+(?:[-.][0-9A-Za-z.]+)?)\b")
HEALTHY_PLUGIN_STATES = frozenset({"loaded"})


def cli_version(env: ProbeEnv, timeout_s: float) -> str:
    try:
        result = env.openclaw("--version", timeout=timeout_s)
    except OperationTimeout as exc:
        raise MeasurementError(f"`openclaw --version` did not finish within {timeout_s:g}s") from exc
    match = _VERSION_RE.search(result.stdout)
    if result.returncode != 0 or match is None:
        raise MeasurementError(
            f"`openclaw --version` printed no version: {excerpt(result.stdout or result.stderr, 120)}"
        )
    return match.group(1)


class VersionParams(KindParams):
    expect: str | None = Field(
        default=None, description="the version the gateway must run (default: the CLI's)"
    )


@dataclass(frozen=True)
class VersionProbe:
    params: VersionParams
    requires: frozenset[Requirement] = frozenset({Requirement.CLI})

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        expected = self.params.expect or cli_version(env, timeout_s)
        code, document, stderr = gateway_call(env, "status", {}, timeout_s)
        running = document.get("runtimeVersion") if isinstance(document, dict) else None
        if code != 0 or not isinstance(running, str):
            return Measurement(
                result={"ok": False, "running": None, "expected": expected},
                evidence=f"gateway status unavailable (exit {code})",
                problem="could not read the running gateway's version: "
                + excerpt(failure_text(document, stderr, code), 160),
            )
        ok = running == expected
        source = "expected" if self.params.expect else "the installed CLI is"
        problem = None
        if not ok:
            hint = "" if self.params.expect else " (the gateway was not restarted after the update?)"
            problem = f"the gateway runs {running} but {source} {expected}{hint}"
        return Measurement(
            result={"ok": ok, "running": running, "expected": expected},
            evidence=f"gateway runs {running}; {source} {expected}",
            problem=problem,
        )


class PluginsParams(KindParams):
    require: list[str] = Field(default_factory=list, description="plugin ids that must be loaded")


@dataclass(frozen=True)
class PluginsProbe:
    params: PluginsParams
    requires: frozenset[Requirement] = frozenset({Requirement.CLI})

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        code, document, stderr = run_json(env, ("plugins", "list", "--json"), timeout_s, "plugins list")
        plugins = document.get("plugins") if isinstance(document, dict) else None
        if code != 0 or not isinstance(plugins, list):
            raise MeasurementError(
                f"plugins list gave no inventory: {excerpt(stderr or f'exit {code}', 160)}"
            )
        by_id: dict[str, dict[str, Any]] = {str(p.get("id")): p for p in plugins if isinstance(p, dict)}
        broken = sorted(
            pid
            for pid, p in by_id.items()
            if p.get("enabled") is True and str(p.get("status")) not in HEALTHY_PLUGIN_STATES
        )
        missing = [pid for pid in self.params.require if pid not in by_id]
        not_loaded = [
            pid
            for pid in self.params.require
            if pid in by_id and str(by_id[pid].get("status")) not in HEALTHY_PLUGIN_STATES
        ]
        problems = [f"plugin {pid} is enabled but {by_id[pid].get('status')}" for pid in broken]
        problems += [f"required plugin {pid} is not installed" for pid in missing]
        problems += [f"required plugin {pid} is {by_id[pid].get('status')}, not loaded" for pid in not_loaded]
        loaded = sum(1 for p in by_id.values() if str(p.get("status")) in HEALTHY_PLUGIN_STATES)
        return Measurement(
            result={
                "ok": not problems,
                "loaded": loaded,
                "total": len(by_id),
                "broken": broken,
                "missing": missing,
                "not_loaded": not_loaded,
                "statuses": {pid: p.get("status") for pid, p in by_id.items()},
            },
            evidence=f"{loaded} of {len(by_id)} plugins loaded, {len(broken)} enabled but not loaded",
            problem="; ".join(problems) if problems else None,
        )


class ChannelsParams(KindParams):
    gateway_wait_ms: int = Field(
        default=10_000,
        ge=1_000,
        le=120_000,
        description="how long `channels status` waits for the gateway (2026.9 waits 60 s by default)",
    )


@dataclass(frozen=True)
class ChannelsProbe:
    params: ChannelsParams
    requires: frozenset[Requirement] = frozenset({Requirement.CLI})

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        code, document, stderr = run_json(
            env,
            ("channels", "status", "--json", "--timeout", str(self.params.gateway_wait_ms)),
            timeout_s,
            "channels status",
        )
        if code != 0 or not isinstance(document, dict):
            return Measurement(
                result={"ok": False, "channels": [], "issues": []},
                evidence=f"channels status failed (exit {code})",
                problem=f"could not read channel status: {excerpt(stderr or f'exit {code}', 160)}",
            )
        channels = as_dict(document.get("channels"))
        issues = as_list(document.get("statusIssues"))
        names = sorted(str(c) for c in channels)
        if not names:
            return Measurement(
                result={"ok": True, "channels": [], "issues": []},
                evidence="no channels configured",
                skip_reason="no channels are configured on this agent",
            )
        described = "; ".join(
            excerpt(str(i.get("message") if isinstance(i, dict) else i), 100) for i in issues[:3]
        )
        return Measurement(
            result={"ok": not issues, "channels": names, "issues": issues},
            evidence=f"{len(names)} channel(s): {', '.join(names)}; {len(issues)} issue(s)",
            problem=f"channel problems: {described}" if issues else None,
        )


KINDS = (
    KindInfo(
        "openclaw.version",
        "the running gateway's version matches the installed one",
        VersionParams,
        VersionProbe,
    ),
    KindInfo(
        "openclaw.plugins",
        "no enabled plugin failed to load; required plugins are loaded",
        PluginsParams,
        PluginsProbe,
    ),
    KindInfo("openclaw.channels", "configured channels report no issues", ChannelsParams, ChannelsProbe),
)
