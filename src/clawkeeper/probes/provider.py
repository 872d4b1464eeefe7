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
clawkeeper saved a byte copy of the config. The user's original values of every path that
registration or OpenClaw's own roster handling may change are saved once, before the first write,
in a registration file; removal turns the config back into them, even after a crash.
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
    patch: dict[str, Any]  # `config patch` object that registers (only what differs)
    originals: dict[str, Any]  # dotted path → the user's value before registering (None: absent)
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


# Paths OpenClaw itself may rewrite when a roster changes (it pins an explicit owner when an agent
# is deleted); removal puts them back to the user's original values.
OWNERSHIP_PATHS: tuple[tuple[str, ...], ...] = (
    ("agents", "ownership"),
    ("agents", "defaults", "systemAgent"),
    ("agents", "defaults", "heartbeat"),
)


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def minimal_patch(config: Any, patch: Mapping[str, Any]) -> dict[str, Any]:
    """`patch` without the leaves `config` already has, so an unchanged registration writes nothing
    (every config write may make the gateway reload or restart)."""
    out: dict[str, Any] = {}
    for key, value in patch.items():
        current = config.get(key) if isinstance(config, Mapping) else None
        if isinstance(value, Mapping) and value and isinstance(current, Mapping):
            nested = minimal_patch(current, value)
            if nested:
                out[key] = nested
        elif current != value:
            out[key] = value
    return out


def plan_registration(
    config: Mapping[str, Any],
    *,
    ids: ProbeIds,
    state_dir: Path,
    base_url: str | None,
    sandbox: bool,
    real_model: str | None = None,
    previous_originals: Mapping[str, Any] | None = None,
) -> RegistrationPlan:
    """Decide what to write (pure). `previous_originals` come from a registration still in place:
    they are the user's values from before it, so they are kept rather than read again."""
    model_ref = real_model or ids.model_ref
    full: dict[str, Any] = {}
    originals: dict[str, Any] = {}
    changes: list[str] = []

    def refuse(reason: str) -> RegistrationPlan:
        return RegistrationPlan(ids, model_ref, {}, {}, tuple(changes), refused=reason)

    def remember(*path: str) -> None:
        originals[".".join(path)] = json.loads(json.dumps(_get(config, *path)))

    if real_model is None:
        if base_url is None:
            raise ValueError("the probe model's base URL is needed unless a real model is used")
        existing = _get(config, "models", "providers", ids.provider)
        if existing is not None and not is_ours_provider(existing):
            return refuse(
                f"models.providers.{ids.provider} already exists and was not created by clawkeeper; "
                "set probes.provider_id to another id"
            )
        _set(full, ("models", "providers", ids.provider), provider_entry(ids, base_url))
        remember("models", "providers", ids.provider)
    entries = _get(config, "agents", "entries")
    entries = entries if isinstance(entries, Mapping) else {}
    if entries.get(ids.agent) is not None and not is_ours_agent(entries[ids.agent]):
        return refuse(
            f"agents.entries.{ids.agent} already exists and was not created by clawkeeper; "
            "set probes.agent_id to another id"
        )
    others = sorted(k for k in entries if k != ids.agent)
    if not others and not sandbox:
        return refuse(
            "this config has no agent roster (agents.entries), so its agent is implicit; a probe agent "
            "beside it would become the only configured agent and take over unbound channels. "
            "Add your agent explicitly (`openclaw agents list`, `openclaw doctor --fix`) and retry"
        )
    # An existing probe agent keeps its directories: moving them would orphan its sessions.
    found = entries.get(ids.agent)
    existing_agent: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    _set(
        full,
        ("agents", "entries", ids.agent),
        {
            "name": PROBE_AGENT_NAME,
            "workspace": existing_agent.get("workspace") or str(state_dir / f"workspace-{ids.agent}"),
            "agentDir": existing_agent.get("agentDir") or str(state_dir / "agents" / ids.agent / "agent"),
            "model": {"primary": model_ref, "fallbacks": []},
        },
    )
    if len(others) == 1 and _get(config, "agents", "defaults", "systemAgent", "agentId") is None:
        _set(full, ("agents", "defaults", "systemAgent"), {"agentId": others[0]})
    for path in OWNERSHIP_PATHS:
        remember(*path)
    if previous_originals:
        originals = json.loads(json.dumps(dict(previous_originals)))
    patch = minimal_patch(config, full)
    changes.extend(_describe_patch(patch, ids))
    return RegistrationPlan(ids, model_ref, patch, originals, tuple(changes))


def merge_diff(current: Any, original: Any) -> Any:
    """The JSON merge patch (RFC 7386, what `config patch` applies) that turns `current` back
    into `original`: keys added since become null, changed values get their old value."""
    if isinstance(current, Mapping) and isinstance(original, Mapping):
        out: dict[str, Any] = {key: None for key in current if key not in original}
        for key, value in original.items():
            if key not in current:
                out[key] = value
            elif current[key] != value:
                out[key] = merge_diff(current[key], value)
        return out
    return original


def restore_patch(config: Mapping[str, Any], originals: Mapping[str, Any]) -> dict[str, Any]:
    """The patch that puts every remembered path back to its original value."""
    patch: dict[str, Any] = {}
    for dotted, original in originals.items():
        path = tuple(dotted.split("."))
        current = _get(config, *path)
        if current != original:
            _set(patch, path, merge_diff(current, original))
    return patch


def _describe_patch(patch: Mapping[str, Any], ids: ProbeIds) -> list[str]:
    out: list[str] = []
    provider = _get(patch, "models", "providers", ids.provider)
    if isinstance(provider, Mapping):
        shown = provider.get("baseUrl", "")
        out.append(f"set provider models.providers.{ids.provider}" + (f" → {shown}" if shown else ""))
    if _get(patch, "agents", "entries", ids.agent) is not None:
        out.append(f"set agent agents.entries.{ids.agent}")
    owner = _get(patch, "agents", "defaults", "systemAgent", "agentId")
    if owner is not None:
        out.append(f"pin agents.defaults.systemAgent.agentId = {owner} (it was the sole, implicit owner)")
    return out


@dataclass
class RegistrationRecord:
    """`registration.json`: what is registered where, and how to undo it."""

    config_path: str
    agent: str
    provider: str | None
    originals: dict[str, Any]
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
    _result, document = env.openclaw_json("config", "file", "--json", timeout=60.0, what="config file")
    path = document.get("path") if isinstance(document, dict) else None
    if not isinstance(path, str):
        raise ConfigError("could not find the agent's config file", hint="set agent.openclaw.config_path")
    return Path(path)


class ProbeRegistration:
    """The probe agent on one target: added once, kept between runs, removed on request.

    Kept, because every roster change makes the gateway restart, and OpenClaw never lets a deleted
    agent id come back (its deletion journal fences it): after a removal the next registration
    uses the next *generation* of the id (`clawkeeper-probe-2`, ...), recorded in `probe-agent.json`.
    """

    def __init__(self, env: ProbeEnv, workdir: Path, base: ProbeIds) -> None:
        self.env = env
        self.workdir = workdir
        self.base = base
        self.record_path = workdir / "registration.json"
        self.generation_path = workdir / "probe-agent.json"

    @property
    def generation(self) -> int:
        try:
            value = json.loads(self.generation_path.read_text(encoding="utf-8")).get("generation", 1)
        except (FileNotFoundError, ValueError, AttributeError):
            return 1
        return value if isinstance(value, int) and value >= 1 else 1

    @property
    def ids(self) -> ProbeIds:
        agent = self.base.agent if self.generation == 1 else f"{self.base.agent}-{self.generation}"
        return ProbeIds(provider=self.base.provider, model=self.base.model, agent=agent)

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
            previous_originals=previous.originals if previous else None,
        )

    def apply(self, plan: RegistrationPlan) -> bool:
        """Write the plan. False when there was nothing to write."""
        if plan.refused:
            raise ConfigError(plan.refused)
        if not plan.patch:
            return False
        path = config_path_of(self.env)
        if self.pending() is None:
            before = path.read_bytes()
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            backup = self.workdir / f"openclaw.json.before-probe-{stamp}"
            fs.atomic_write_bytes(backup, before)
            record = RegistrationRecord(
                config_path=str(path),
                agent=plan.ids.agent,
                provider=plan.ids.provider
                if f"models.providers.{plan.ids.provider}" in plan.originals
                else None,
                originals=plan.originals,
                config_sha256_before=hashlib.sha256(before).hexdigest(),
                backup=str(backup),
            )
            # Recorded before the write: a crash right after it still knows how to undo.
            fs.atomic_write_json(self.record_path, record.to_json())
        self._patch(plan.patch)
        return True

    def remove(self) -> list[str]:
        """Undo the registration. Returns what was done; raises if OpenClaw refused."""
        record = self.pending()
        if record is None:
            return []
        done: list[str] = []
        config = read_config(Path(record.config_path))
        if is_ours_agent(_get(config, "agents", "entries", record.agent)):
            result = self.env.openclaw("agents", "delete", record.agent, "--force", "--json", timeout=180.0)
            if result.returncode != 0:
                raise CommandFailed(
                    f"could not remove the probe agent {record.agent}: {result.stderr_tail()}",
                    hint=f"remove it by hand with `openclaw agents delete {record.agent}`",
                )
            done.append(f"removed agent {record.agent}")
            fs.atomic_write_json(self.generation_path, {"generation": self.generation + 1})
        undo = restore_patch(read_config(Path(record.config_path)), record.originals)
        if undo:
            self._patch(undo)
            done.append("restored " + ", ".join(_paths(undo)))
        self.record_path.unlink(missing_ok=True)
        return done

    def _patch(self, patch: Mapping[str, Any]) -> None:
        result = self.env.openclaw("config", "patch", "--stdin", timeout=120.0, input_text=json.dumps(patch))
        if result.returncode != 0:
            raise CommandFailed(
                f"openclaw refused the probe config change: {result.stderr_tail()}",
                hint="run `openclaw config validate`; clawkeeper kept a copy of the config in its work dir",
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
