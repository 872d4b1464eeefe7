"""The `[probes]` section of clawkeeper.toml.

Model-dependent probes on a *live* agent need `live_consent = true`: clawkeeper then adds its probe
provider and probe agent to the live config (once; `clawkeeper verify --remove-probe-agent` takes
them out again and restores the user's values). In a
sandbox (the lab, a canary) that is always allowed. `real_model` runs the same golden tasks on a
model the user already configured (e.g. "openai/gpt-5.4-mini"), which costs tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import BaseModel, ConfigDict, Field

APP = "clawkeeper"

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


def default_suite_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "suites"


def default_workdir() -> Path:
    return Path(platformdirs.user_state_dir(APP)) / "probes"


class ProbeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    live_consent: bool = False
    real_model: str | None = None
    agent_id: Identifier = "clawkeeper-probe"
    provider_id: Identifier = "clawkeeper-probe"
    model_port: Annotated[int, Field(ge=0, le=65535)] = 0  # 0: any free port
    suite_dirs: list[Path] = Field(default_factory=list)
    workdir: Path = Field(default_factory=default_workdir)
    ready_wait: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # The probe agent stays registered between runs (each roster change restarts the gateway);
    # true removes it after every run instead.
    remove_after_run: bool = False

    def all_suite_dirs(self) -> list[Path]:
        return [default_suite_dir(), *self.suite_dirs]
