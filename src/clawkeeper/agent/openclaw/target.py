"""How to reach one OpenClaw installation: the contract between discovery, the lab and the adapter.

A live install and a lab instance differ only in these values: which `openclaw` to run with which
Node, under which environment (HOME / OPENCLAW_* variables), behind which command prefix (the lab
runs CLI commands inside its namespaces with `nsenter`), and at which HTTP base URL the gateway
answers from where clawkeeper runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class OpenClawTarget:
    label: str  # "live" or "lab:<instance>"
    binary: Path  # the `openclaw` entry point (shim or openclaw.mjs)
    node_bin_dir: Path | None = None  # put first on PATH so the right Node runs the CLI
    env: Mapping[str, str] = field(default_factory=dict)  # HOME, OPENCLAW_STATE_DIR, ...
    exec_prefix: tuple[str, ...] = ()  # e.g. ("nsenter", "-t", "123", "-n", "-m", "--")
    http_base: str | None = None  # e.g. "http://127.0.0.1:18996"; None: derive from config
    state_dir: Path | None = None  # known state dir (the lab knows it; live discovery computes it)
    config_path: Path | None = None
    profile: str | None = None
    isolation: str = "none"  # how the gateway is isolated: "namespace", "userns", "none"

    def argv(self, *args: str) -> list[str]:
        """The full argv for `openclaw <args>` on this target."""
        return [*self.exec_prefix, str(self.binary), *args]

    def process_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a CLI call runs with: the caller's, plus this target's overrides."""
        env = dict(os.environ if base is None else base)
        env.update(self.env)
        if self.node_bin_dir is not None:
            env["PATH"] = f"{self.node_bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("NO_COLOR", "1")
        return env
