"""A fake OpenClaw install for tests: an npm-global-shaped prefix whose `openclaw` replays the
real outputs recorded from 2026.8.2 and 2026.9.6 (tests/fixtures/openclaw), plus the recorded
gateway HTTP bodies for a loopback server."""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.adapter import OpenClawAdapter
from clawkeeper.agent.openclaw.target import OpenClawTarget
from tests.support.httpserver import Routes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw"
VERSIONS = ("2026.8.2", "2026.9.6")
PORTS = {"2026.8.2": 18971, "2026.9.6": 18972}  # what each recording's config says


def _write_exe(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class FakeInstall:
    """An npm-global-shaped OpenClaw install whose CLI replays one version's recordings."""

    root: Path
    version: str
    phase: str = "up"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def prefix(self) -> Path:
        return self.root / "prefix"

    @property
    def binary(self) -> Path:
        return self.prefix / "bin" / "openclaw"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def config_path(self) -> Path:
        return self.home / ".openclaw" / "openclaw.json"

    @property
    def scenario_path(self) -> Path:
        return self.root / "scenario.json"

    @property
    def log_path(self) -> Path:
        return self.root / "calls.jsonl"

    def build(self) -> FakeInstall:
        package = self.prefix / "lib" / "node_modules" / "openclaw"
        (package / "dist").mkdir(parents=True)
        source = (FIXTURES / "fake_openclaw.py").read_text()
        _write_exe(package / "openclaw.mjs", f"#!{sys.executable}\n{source}")
        (package / "package.json").write_text((FIXTURES / self.version / "package.json").read_text())
        (package / "dist" / "build-info.json").write_text(
            (FIXTURES / self.version / "build-info.json").read_text()
        )
        self.binary.parent.mkdir(parents=True)
        self.binary.symlink_to("../lib/node_modules/openclaw/openclaw.mjs")
        self.config_path.parent.mkdir(parents=True)
        self.config_path.write_text((FIXTURES / self.version / "openclaw.json").read_text())
        tools = self.root / "tools"
        _write_exe(tools / "node", "#!/bin/sh\necho v24.19.0\n")
        _write_exe(tools / "npm", f"#!/bin/sh\necho {self.prefix}\n")
        self.save()
        return self

    def save(self) -> None:
        scenario = {
            "fixtures": str(FIXTURES / self.version),
            "phase": self.phase,
            "overrides": self.overrides,
            "log": str(self.log_path),
        }
        self.scenario_path.write_text(json.dumps(scenario))

    def set_phase(self, phase: str, **overrides: dict[str, Any]) -> None:
        self.phase = phase
        self.overrides = dict(overrides)
        self.save()

    def recorded(self, name: str, phase: str = "up") -> Any:
        return json.loads((FIXTURES / self.version / f"{name}.{phase}.json").read_text())

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def env(self) -> dict[str, str]:
        """The whole environment the adapter runs commands with (nothing from the real machine)."""
        return {"PATH": f"{self.root / 'tools'}{os.pathsep}/usr/bin:/bin", "HOME": str(self.home)}

    def target(
        self, *, http_base: str | None, isolation: str = "namespace", extra_env: dict[str, str] | None = None
    ) -> OpenClawTarget:
        env = {"FAKE_OPENCLAW_SCENARIO": str(self.scenario_path), "HOME": str(self.home), **(extra_env or {})}
        return OpenClawTarget(
            label="test", binary=self.binary, env=env, http_base=http_base, isolation=isolation
        )

    def adapter(
        self, *, http_base: str | None, timeout: float = 30.0, isolation: str = "namespace"
    ) -> OpenClawAdapter:
        target = self.target(http_base=http_base, isolation=isolation)
        return OpenClawAdapter(target, timeout=timeout, base_env=self.env(), confirm_pause=0.01)


def gateway_routes(version: str) -> Routes:
    routes = Routes()
    for path in ("healthz", "readyz", "startupz"):
        routes[f"/{path}"] = (200, json.loads((FIXTURES / version / f"http-{path}.up.json").read_text()))
    return routes
