"""clawkeeper.toml before validation, and validated sections served without pydantic.

`read_raw` finds the file and merges it with the `CLAWKEEPER_<SECTION>__<KEY>` environment
overrides (see `clawkeeper.config`, which validates the result with pydantic).

`validated_sections` answers the sections short-lived commands need (`backup`, `ledger`) from a
cache: the first run after the configuration (file, overrides, or clawkeeper itself) changed
validates all of it with pydantic, as `load_config` does, and stores the validated values of
those sections in `$XDG_CACHE_HOME/clawkeeper/sections.json` (0600); later runs with the same
inputs read them back without importing pydantic and building every settings model, which took
more time than a backup with nothing changed. The cache holds no secrets (neither section has
any) and is only ever a copy: deleting it costs one validation.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper import __version__
from clawkeeper.errors import ConfigError

APP = "clawkeeper"
ENV_PREFIX = "CLAWKEEPER_"
CONFIG_ENV = "CLAWKEEPER_CONFIG"
CONFIG_FILENAME = "clawkeeper.toml"

CACHED_SECTIONS: tuple[str, ...] = ("backup", "ledger")
SECTIONS_CACHE = "sections.json"
_CACHE_FORMAT = 1
# What the defaults of the settings depend on besides the file (platformdirs' folders)
_DEFAULTS_ENV = (
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
)


def default_config_path() -> Path:
    import platformdirs

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


@dataclass(frozen=True)
class RawConfig:
    """The merged file and environment overrides, not validated yet."""

    path: Path | None  # the file that was read, None when only defaults/env apply
    data: dict[str, Any]
    origin: dict[tuple[str, ...], str] = field(default_factory=dict)  # key path -> env var


def read_raw(explicit: Path | None, env: Mapping[str, str], cwd: Path) -> RawConfig:
    """Find and read the file, apply the overrides. Raises ConfigError with one clear line."""
    path, is_explicit = find_config_file(explicit, env, cwd)
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
    overrides, origin = _env_overrides(env)
    _resolve_relative_paths(overrides, cwd.resolve())
    return RawConfig(path, _deep_merge(data, overrides), origin)


def validated_sections(
    explicit: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """The `CACHED_SECTIONS` of the validated configuration, as JSON values (`model_dump(mode=
    "json")` of each section), from the cache when nothing changed since they were validated.
    Raises ConfigError exactly when `load_config` would."""
    environ = os.environ if env is None else env
    here = cwd or Path.cwd()
    raw = read_raw(explicit, environ, here)
    key = _cache_key(raw, environ)
    cache = sections_cache_path()
    found = _read_cache(cache, key)
    if found is not None:
        return found
    from clawkeeper.config import validate_raw

    settings = validate_raw(raw)
    sections: dict[str, dict[str, Any]] = {}
    sources: set[str] = set()
    for name in CACHED_SECTIONS:
        model = getattr(settings, name)
        sections[name] = model.model_dump(mode="json")
        sources |= _model_sources(model)
    _write_cache(cache, key, sections, sorted(sources))
    return sections


def _cache_key(raw: RawConfig, env: Mapping[str, str]) -> str:
    document = {
        "format": _CACHE_FORMAT,
        "clawkeeper": __version__,
        "file": str(raw.path) if raw.path else None,
        "data": raw.data,
        "env": {name: env.get(name) for name in _DEFAULTS_ENV},
        "sections": CACHED_SECTIONS,
    }
    text = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def sections_cache_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / SECTIONS_CACHE


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)  # noqa: PTH116 - two fields of one stat, on every run
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_cache(cache: Path, key: str) -> dict[str, dict[str, Any]] | None:
    """The cached sections if they were validated from these inputs by this code, else None."""
    try:
        document = json.loads(cache.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("key") != key:
        return None
    sources = document.get("sources")
    sections = document.get("sections")
    if not isinstance(sources, dict) or not isinstance(sections, dict):
        return None
    # the settings models themselves: a changed model (a new default, a new field) is a miss
    if any(not isinstance(stamp, list) or _stamp(path) != stamp for path, stamp in sources.items()):
        return None
    if not all(isinstance(sections.get(name), dict) for name in CACHED_SECTIONS):
        return None
    return {name: sections[name] for name in CACHED_SECTIONS}


def _write_cache(cache: Path, key: str, sections: dict[str, dict[str, Any]], sources: list[str]) -> None:
    from clawkeeper.effects.fs import atomic_write_json

    document = {
        "key": key,
        "sources": {path: _stamp(path) for path in sources},
        "sections": sections,
    }
    try:
        atomic_write_json(cache, document)
    except OSError:
        return  # only a cache: the next run validates again


def _model_sources(model: Any) -> set[str]:
    """The source files of a settings model's classes (nested models included), and of the
    module that validates them (`clawkeeper.config`)."""
    import sys

    out = {str(Path(__file__).with_name("config.py"))}
    pending = [model]
    while pending:
        current = pending.pop()
        module = sys.modules.get(type(current).__module__)
        filename = getattr(module, "__file__", None)
        if filename:
            out.add(str(filename))
        for name in type(current).model_fields:
            value = getattr(current, name, None)
            if hasattr(type(value), "model_fields"):
                pending.append(value)
    out.add(__file__)
    return out
