"""Fixtures for probe tests: a fake OpenClaw (CLI + gateway health endpoints) on loopback."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.probes.settings import ProbeSettings
from tests.support.httpserver import Routes, serve

FAKE = Path(__file__).with_name("fake_openclaw.py")

# What `openclaw onboard` writes in 2026.9.6 (token replaced), plus a user-defined model.
ONBOARDED_CONFIG: dict[str, Any] = {
    "gateway": {
        "mode": "local",
        "auth": {"mode": "token", "token": "not-a-real-token"},
        "port": 18789,
        "bind": "loopback",
    },
    "agents": {
        "defaults": {"workspace": "WORKSPACE"},
        "entries": {"main": {"name": "main", "workspace": "WORKSPACE", "identity": {"name": "main"}}},
    },
    "models": {
        "mode": "merge",
        "providers": {
            "openai": {
                "baseUrl": "https://api.example.invalid/v1",
                "apiKey": "${OPENAI_API_KEY}",
                "api": "openai-responses",
            }
        },
    },
    "tools": {"profile": "full"},
    "meta": {"lastTouchedVersion": "2026.9.6"},
}


@dataclass
class FakeOpenClaw:
    target: OpenClawTarget
    home: Path
    state_path: Path
    routes: Routes

    @property
    def config_path(self) -> Path:
        return self.home / ".openclaw" / "openclaw.json"

    def config(self) -> dict[str, Any]:
        return json.loads(self.config_path.read_text())

    def write_config(self, value: dict[str, Any]) -> None:
        self.config_path.write_text(json.dumps(value, indent=2))

    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text())

    def set(self, **knobs: Any) -> None:
        state = self.state()
        state.update(knobs)
        self.state_path.write_text(json.dumps(state))

    def settings(self, tmp_path: Path, **overrides: Any) -> ProbeSettings:
        return ProbeSettings(workdir=tmp_path / "probe-work", **overrides)


@pytest.fixture
def fake_openclaw(tmp_path: Path) -> Iterator[FakeOpenClaw]:
    home = tmp_path / "home"
    state_dir = home / ".openclaw"
    state_dir.mkdir(parents=True)
    config = json.loads(json.dumps(ONBOARDED_CONFIG).replace("WORKSPACE", str(state_dir / "workspace")))
    (state_dir / "openclaw.json").write_text(json.dumps(config, indent=2))
    state_path = tmp_path / "fake-state.json"
    state_path.write_text("{}")
    binary = tmp_path / "bin" / "openclaw"
    binary.parent.mkdir()
    binary.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    )
    binary.chmod(0o755)
    routes = Routes()
    routes["/healthz"] = (200, {"ok": True, "status": "live"})
    routes["/readyz"] = (200, {"ready": True, "failing": [], "uptimeMs": 1000})
    with serve(routes) as base:
        target = OpenClawTarget(
            label="lab:fake",
            binary=binary,
            env={"HOME": str(home), "FAKE_OPENCLAW_STATE": str(state_path)},
            http_base=base,
            state_dir=state_dir,
            config_path=state_dir / "openclaw.json",
            isolation="namespace",
        )
        yield FakeOpenClaw(target, home, state_path, routes)
