"""Registering the probe model and a dedicated probe agent in an OpenClaw config, and undoing it.

What is added (and nothing else):
* `models.providers.<provider>`: the probe model, `api: "openai-completions"`, a loopback
  `baseUrl`, a dummy key that marks the entry as clawkeeper's;
* `agents.entries.<agent>`: the probe agent, with its own workspace and agent dir, its model pinned
  strictly to the probe model (`fallbacks: []`, so a probe can never fall back to a paid model);
* only when the user's roster is exactly one agent with no designated owner:
  `agents.defaults.systemAgent.agentId = <that agent>`. OpenClaw lets a *sole* agent own unbound
  channel routing and ambient work implicitly; with the probe agent beside it that implicit owner
  would disappear, so the owner is pinned to the agent that already had the role.

A config without an agent roster (implicit `main`) cannot get a second agent without changing who
answers the user's channels; on a live agent that is refused with the reason, in a sandbox it is
allowed. Entries under the probe's ids that clawkeeper did not create are never overwritten.

Writes go through OpenClaw itself (`config patch --stdin`: one validated, atomic write with its
backup ring; `agents delete` for the agent, which OpenClaw insists on for roster removals), after
clawkeeper saved a byte copy of the config. The undo patch is computed once, from the config as
it was before the first registration, and kept in a registration file, so a crash between
register and unregister still restores the user's original values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import json5

from clawkeeper.effects import fs
from clawkeeper.errors import ClawkeeperError, CommandFailed, ConfigError
from clawkeeper.probes.env import ProbeEnv

PROBE_API_KEY = "clawkeeper-probe-local"  # not a secret: marks the provider entry as clawkeeper's
PROBE_AGENT_NAME = "clawkeeper probe"
REGISTRATION_FORMAT = 1


@dataclass(frozen=True)
class ProbeIds:
    provider: str = "clawkeeper-probe"
    model: str = "probe-1"
    agent: str = "clawkeeper-probe"

    @property
    def model_ref(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class RegistrationPlan:
    ids: ProbeIds
    model_ref: str  # what the probe agent runs on
    patch: dict[str, Any]  # `config patch` object that registers
    undo: dict[str, Any]  # `config patch` object that restores everything but the agent entry
    changes: tuple[str, ...]  # human-readable, for --dry-run, the ledger and the report
    refused: str | None = None  # why registration must not happen here

    def to_json(self) -> dict[str, Any]:
        return {
            "model_ref": self.model_ref,
            "changes": list(self.changes),
            "refused": self.refused,
            "agent": self.ids.agent,
            "provider": self.ids.provider,
        }


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def read_config(path: Path) -> dict[str, Any]:
    try:
        value = json5.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"OpenClaw config not found at {path}", hint="is this the right state directory?"
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not valid JSON5: {exc}", hint="run `openclaw config validate`"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return value


def is_ours_provider(entry: Any) -> bool:
    return isinstance(entry, Mapping) and entry.get("apiKey") == PROBE_API_KEY


def is_ours_agent(entry: Any) -> bool:
    return isinstance(entry, Mapping) and entry.get("name") == PROBE_AGENT_NAME


def provider_entry(ids: ProbeIds, base_url: str) -> dict[str, Any]:
    return {
        "baseUrl": base_url,
        "apiKey": PROBE_API_KEY,
        "api": "openai-completions",
        "timeoutSeconds": 120,
        "models": [
            {
                "id": ids.model,
                "name": "clawkeeper probe model (scripted, offline)",
                "reasoning": False,
                "input": ["text"],
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                # OpenClaw's system prompt alone is ~19k tokens; a small window would force compaction.
                "contextWindow": 128000,
                "maxTokens": 4096,
            }
        ],
    }


def plan_registration(
    config: Mapping[str, Any],
    *,
    ids: ProbeIds,
    state_dir: Path,
    base_url: str | None,
    sandbox: bool,
    real_model: str | None = None,
    previous_undo: Mapping[str, Any] | None = None,
) -> RegistrationPlan:
    """Decide what to add (pure). `previous_undo` is the undo of a registration still in place."""
    model_ref = real_model or ids.model_ref
    patch: dict[str, Any] = {}
    undo: dict[str, Any] = {}
    changes: list[str] = []

    def refuse(reason: str) -> RegistrationPlan:
        return RegistrationPlan(ids, model_ref, {}, {}, tuple(changes), refused=reason)

    if real_model is None:
        if base_url is None:
            raise ValueError("the probe model's base URL is needed unless a real model is used")
        existing = _get(config, "models", "providers", ids.provider)
        if existing is not None and not is_ours_provider(existing):
            return refuse(
                f"models.providers.{ids.provider} already exists and was not created by clawkeeper; "
                "set probes.provider_id to another id"
            )
        patch["models"] = {"providers": {ids.provider: provider_entry(ids, base_url)}}
        undo["models"] = {"providers": {ids.provider: None}}
        changes.append(
            f"{'update' if existing else 'add'} provider models.providers.{ids.provider} → {base_url}"
        )
    entries = _get(config, "agents", "entries")
    entries = entries if isinstance(entries, Mapping) else {}
    existing_agent = entries.get(ids.agent)
    if existing_agent is not None and not is_ours_agent(existing_agent):
        return refuse(
            f"agents.entries.{ids.agent} already exists and was not created by clawkeeper; "
            "set probes.agent_id to another id"
        )
    others = sorted(k for k in entries if k != ids.agent)
    owner = _get(config, "agents", "defaults", "systemAgent", "agentId")
    if not others and not sandbox:
        return refuse(
            "this config has no agent roster (agents.entries), so its agent is implicit; a probe agent "
            "beside it would become the only configured agent and take over unbound channels. "
            "Add your agent explicitly (`openclaw agents list`, `openclaw doctor --fix`) and retry"
        )
    agent_patch = {
        "name": PROBE_AGENT_NAME,
        "workspace": str(state_dir / f"workspace-{ids.agent}"),
        "agentDir": str(state_dir / "agents" / ids.agent / "agent"),
        "model": {"primary": model_ref, "fallbacks": []},
    }
    patch["agents"] = {"entries": {ids.agent: agent_patch}}
    changes.append(
        f"{'update' if existing_agent else 'add'} agent agents.entries.{ids.agent} on model {model_ref}"
    )
    if len(others) == 1 and owner is None:
        patch["agents"]["defaults"] = {"systemAgent": {"agentId": others[0]}}
        undo["agents"] = {"defaults": {"systemAgent": None}}
        changes.append(
            f"pin agents.defaults.systemAgent.agentId = {others[0]} (it was the sole, implicit owner)"
        )
    if previous_undo:
        # A registration is still in place: its undo holds the user's original values.
        undo = json.loads(json.dumps(previous_undo))
    return RegistrationPlan(ids, model_ref, patch, undo, tuple(changes))


@dataclass
class RegistrationRecord:
    """`registration.json`: what is registered where, and how to undo it."""

    config_path: str
    agent: str
    provider: str | None
    undo: dict[str, Any]
    config_sha256_before: str
    backup: str
    registered_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        return {"format": REGISTRATION_FORMAT, **self.__dict__}

    @classmethod
    def load(cls, path: Path) -> RegistrationRecord | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != REGISTRATION_FORMAT:
            return None
        data.pop("format")
        try:
            return cls(**data)
        except TypeError:
            return None


def config_path_of(env: ProbeEnv) -> Path:
    target = env.target
    if target is None:
        raise ValueError("registration needs an OpenClaw target")
    if target.config_path is not None:
        return target.config_path
    if target.state_dir is not None:
        return target.state_dir / "openclaw.json"
    result, document = env.openclaw_json("config", "file", "--json", timeout=60.0, what="config file")
    path = document.get("path") if isinstance(document, dict) else None
    if not isinstance(path, str):
        raise ConfigError("could not find the agent's config file", hint="set agent.openclaw.config_path")
    return Path(path)


class ProbeRegistration:
    """Applies and removes a plan on one target, keeping `registration.json` in `workdir`."""

    def __init__(self, env: ProbeEnv, workdir: Path, ids: ProbeIds) -> None:
        self.env = env
        self.workdir = workdir
        self.ids = ids
        self.record_path = workdir / "registration.json"

    def pending(self) -> RegistrationRecord | None:
        return RegistrationRecord.load(self.record_path)

    def plan(self, *, base_url: str | None, sandbox: bool, real_model: str | None) -> RegistrationPlan:
        path = config_path_of(self.env)
        config = read_config(path)
        state_dir = (
            self.env.target.state_dir if self.env.target and self.env.target.state_dir else path.parent
        )
        previous = self.pending()
        return plan_registration(
            config,
            ids=self.ids,
            state_dir=state_dir,
            base_url=base_url,
            sandbox=sandbox,
            real_model=real_model,
            previous_undo=previous.undo if previous else None,
        )

    def apply(self, plan: RegistrationPlan) -> None:
        if plan.refused:
            raise ConfigError(plan.refused)
        path = config_path_of(self.env)
        before = path.read_bytes()
        previous = self.pending()
        if previous is None:
            backup = (
                self.workdir / f"openclaw.json.before-probe-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
            )
            fs.atomic_write_bytes(backup, before)
            record = RegistrationRecord(
                config_path=str(path),
                agent=self.ids.agent,
                provider=self.ids.provider if "models" in plan.patch else None,
                undo=plan.undo,
                config_sha256_before=hashlib.sha256(before).hexdigest(),
                backup=str(backup),
            )
            # Recorded before the write: a crash right after it still knows how to undo.
            fs.atomic_write_json(self.record_path, record.to_json())
        self._patch(plan.patch)

    def remove(self) -> list[str]:
        """Undo a registration (the pending one). Returns what was done; raises if it failed."""
        record = self.pending()
        if record is None:
            return []
        done: list[str] = []
        config = read_config(Path(record.config_path))
        if is_ours_agent(_get(config, "agents", "entries", record.agent)):
            result = self.env.openclaw("agents", "delete", record.agent, "--force", "--json", timeout=120.0)
            if result.returncode != 0:
                raise CommandFailed(
                    f"could not remove the probe agent {record.agent}: {result.stderr_tail()}",
                    hint=f"remove it by hand with `openclaw agents delete {record.agent}`",
                )
            done.append(f"removed agent {record.agent}")
        if record.undo:
            self._patch(record.undo)
            done.append("restored " + ", ".join(_paths(record.undo)))
        self.record_path.unlink(missing_ok=True)
        return done

    def _patch(self, patch: Mapping[str, Any]) -> None:
        if not patch:
            return
        result = self.env.openclaw("config", "patch", "--stdin", timeout=120.0, input_text=json.dumps(patch))
        if result.returncode != 0:
            raise CommandFailed(
                f"openclaw refused the probe config change: {result.stderr_tail()}",
                hint="run `openclaw config validate`; clawkeeper kept a copy of the config in its probe work dir",
            )


def _paths(patch: Mapping[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in patch.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(_paths(value, dotted + "."))
        else:
            out.append(dotted)
    return out


def safe_remove(registration: ProbeRegistration) -> tuple[list[str], str | None]:
    """`remove`, with a failure returned as text (cleanup must not hide the verification's result)."""
    try:
        return registration.remove(), None
    except ClawkeeperError as exc:
        return [], exc.one_line()
