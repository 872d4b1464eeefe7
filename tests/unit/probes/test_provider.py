"""Registering the probe provider and agent: what is written, what is refused, and the way back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.provider import (
    PROBE_API_KEY,
    ProbeIds,
    ProbeRegistration,
    merge_diff,
    plan_registration,
    restore_patch,
)
from tests.unit.probes.conftest import ONBOARDED_CONFIG, FakeOpenClaw

STATE = Path("/home/u/.openclaw")
URL = "http://127.0.0.1:41001/v1"

# What `openclaw onboard` wrote in 2026.8.2: no agent roster at all (the agent is implicit).
RAW_CONFIG: dict[str, Any] = {"gateway": {"mode": "local", "port": 18789}, "tools": {"profile": "coding"}}


def plan(config: dict[str, Any], *, sandbox: bool = False, **kw: Any) -> Any:
    return plan_registration(config, ids=ProbeIds(), state_dir=STATE, base_url=URL, sandbox=sandbox, **kw)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as `openclaw config patch` applies it."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def test_registration_adds_only_the_probe_provider_and_agent() -> None:
    result = plan(copy.deepcopy(ONBOARDED_CONFIG))
    assert result.refused is None
    provider = result.patch["models"]["providers"]["clawkeeper-probe"]
    assert provider["baseUrl"] == URL and provider["api"] == "openai-completions"
    assert provider["apiKey"] == PROBE_API_KEY
    agent = result.patch["agents"]["entries"]["clawkeeper-probe"]
    assert agent["model"] == {"primary": "clawkeeper-probe/probe-1", "fallbacks": []}  # never a paid fallback
    assert agent["workspace"] == str(STATE / "workspace-clawkeeper-probe")
    # the user's agent and models are not in the patch at all
    assert set(result.patch["agents"]["entries"]) == {"clawkeeper-probe"}
    assert set(result.patch["models"]["providers"]) == {"clawkeeper-probe"}
    # the sole agent keeps owning unbound routing once it is no longer the only one
    assert result.patch["agents"]["defaults"] == {"systemAgent": {"agentId": "main"}}


def test_an_existing_owner_is_left_alone() -> None:
    config = copy.deepcopy(ONBOARDED_CONFIG)
    config["agents"]["defaults"]["systemAgent"] = {"agentId": "main"}
    assert "systemAgent" not in plan(config).patch["agents"].get("defaults", {})


def test_a_config_without_roster_is_refused_live_but_allowed_in_a_sandbox() -> None:
    live = plan(copy.deepcopy(RAW_CONFIG))
    assert live.refused is not None and "no agent roster" in live.refused and not live.patch
    assert plan(copy.deepcopy(RAW_CONFIG), sandbox=True).refused is None


@pytest.mark.parametrize(
    ("path", "entry"),
    [
        (("models", "providers"), {"baseUrl": "http://x", "apiKey": "sk-user"}),
        (("agents", "entries"), {"name": "mine"}),
    ],
)
def test_ids_taken_by_the_user_are_never_overwritten(path: tuple[str, str], entry: dict[str, Any]) -> None:
    config = copy.deepcopy(ONBOARDED_CONFIG)
    config[path[0]][path[1]]["clawkeeper-probe"] = entry
    result = plan(config)
    assert result.refused is not None and "was not created by clawkeeper" in result.refused
    assert result.patch == {}


def test_an_unchanged_registration_plans_no_write() -> None:
    config = copy.deepcopy(ONBOARDED_CONFIG)
    registered = merge_patch(config, plan(config).patch)
    assert plan(registered).patch == {}
    moved = plan_registration(
        registered, ids=ProbeIds(), state_dir=STATE, base_url="http://127.0.0.1:5/v1", sandbox=False
    )
    assert moved.patch == {
        "models": {"providers": {"clawkeeper-probe": {"baseUrl": "http://127.0.0.1:5/v1"}}}
    }


def test_restore_patch_reverts_what_openclaw_changed_on_its_own() -> None:
    now = {
        "agents": {
            "ownership": "explicit",
            "defaults": {
                "heartbeat": {"every": "30m", "agentId": "main"},
                "systemAgent": {"agentId": "main"},
            },
        }
    }
    originals = {
        "agents.ownership": None,
        "agents.defaults.systemAgent": None,
        "agents.defaults.heartbeat": {"every": "30m"},
    }
    patch = restore_patch(now, originals)
    assert patch == {
        "agents": {"ownership": None, "defaults": {"systemAgent": None, "heartbeat": {"agentId": None}}}
    }
    assert merge_diff({"a": 1, "b": 2}, {"a": 1}) == {"b": None}


def test_apply_and_remove_round_trip_through_openclaw(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    original = fake_openclaw.config()
    registration = ProbeRegistration(ProbeEnv(target=fake_openclaw.target), tmp_path / "work", ProbeIds())
    first = registration.plan(base_url=URL, sandbox=False, real_model=None)
    assert registration.apply(first) is True
    assert "clawkeeper-probe" in fake_openclaw.config()["agents"]["entries"]
    backups = list((tmp_path / "work").glob("openclaw.json.before-probe-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == original
    assert backups[0].stat().st_mode & 0o777 == 0o600  # the config holds the gateway token
    again = registration.plan(base_url=URL, sandbox=False, real_model=None)
    assert registration.apply(again) is False  # nothing to write, the gateway is not disturbed
    done = registration.remove()
    assert done[0] == "removed agent clawkeeper-probe"
    assert fake_openclaw.config() == original
    assert registration.pending() is None and registration.remove() == []


def test_a_real_model_replaces_the_probe_model_when_the_user_opts_in() -> None:
    result = plan_registration(
        copy.deepcopy(ONBOARDED_CONFIG),
        ids=ProbeIds(),
        state_dir=STATE,
        base_url=None,
        sandbox=False,
        real_model="openai/gpt-5.4-mini",
    )
    assert "models" not in result.patch
    assert result.patch["agents"]["entries"]["clawkeeper-probe"]["model"]["primary"] == "openai/gpt-5.4-mini"
