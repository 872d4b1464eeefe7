"""Reading OpenClaw's own config file (`openclaw.json`, JSON5) — only the parts clawkeeper needs.

We read the file directly instead of asking the CLI because it is instant, works when the gateway
and the CLI are broken, and lets us say exactly where a syntax error is (file, line, column). We
never write it, and we never return secret values: only the gateway endpoint and the writer stamp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5

from clawkeeper.errors import AgentProtocolError

DEFAULT_GATEWAY_PORT = 18789
DEV_PROFILE_PORT = 19001

# json5 reports errors as '<string>:LINE Message at column COL'
_JSON5_ERROR_RE = re.compile(
    r"^<string>:(?P<line>\d+)\s+(?P<message>.*?)\s+at column (?P<column>\d+)\s*$", re.DOTALL
)
_PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigProblem:
    """Why `openclaw.json` could not be used: unreadable, not JSON5, or not an object."""

    path: Path
    message: str
    line: int | None = None
    column: int | None = None

    def describe(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"

    def to_error(self) -> OpenClawConfigUnreadable:
        return OpenClawConfigUnreadable(self)


class OpenClawConfigUnreadable(AgentProtocolError):
    """OpenClaw's config file cannot be parsed, and the operation needs it."""

    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(
            f"OpenClaw config {problem.describe()}",
            hint="fix the file at that line (or restore openclaw.json.bak / .last-good), "
            "then check it with `openclaw config validate`",
        )
        self.problem = problem


@dataclass(frozen=True)
class ConfigRead:
    """The outcome of reading the config: `data` when usable, `problem` when not, neither if absent."""

    path: Path
    exists: bool
    data: Mapping[str, Any] | None = None
    problem: ConfigProblem | None = None


def read_config(path: Path) -> ConfigRead:
    """Read and parse `path` as JSON5. Never raises for a broken file: see `problem`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ConfigRead(path=path, exists=False)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return ConfigRead(path=path, exists=True, problem=ConfigProblem(path, f"cannot read: {reason}"))
    try:
        data = json5.loads(text)
    except ValueError as exc:
        return ConfigRead(path=path, exists=True, problem=_syntax_problem(path, str(exc)))
    if not isinstance(data, dict):
        kind = type(data).__name__
        return ConfigRead(
            path=path, exists=True, problem=ConfigProblem(path, f"top level is a {kind}, expected an object")
        )
    return ConfigRead(path=path, exists=True, data=data)


def _syntax_problem(path: Path, raw: str) -> ConfigProblem:
    match = _JSON5_ERROR_RE.match(raw.strip())
    if match is None:
        return ConfigProblem(path, f"not valid JSON5: {raw.strip()}")
    return ConfigProblem(
        path,
        # the message may quote the offending character, which can be a raw newline
        "not valid JSON5: " + match["message"].replace("\n", "\\n").replace("\t", "\\t"),
        line=int(match["line"]),
        column=int(match["column"]),
    )


def normalize_profile(raw: str | None) -> str | None:
    """A named profile as OpenClaw accepts it; None for unset, blank, 'default' or invalid names."""
    if raw is None:
        return None
    profile = raw.strip()
    if not profile or profile.lower() == "default" or not _PROFILE_RE.match(profile):
        return None
    return profile


def profile_default_port(profile: str) -> int:
    """The port OpenClaw derives for a named profile with no configured port (FNV-1a of the name)."""
    value = 2166136261
    for byte in profile.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return 20000 + value % 40000


def parse_port_env(raw: str | None) -> int | None:
    """OPENCLAW_GATEWAY_PORT: a bare port, `host:port` or `[v6]:port`; None if absent or malformed."""
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if text.isdigit():
        return _valid_port(int(text))
    bracketed = re.match(r"^\[[^\]]+\]:(\d+)$", text)
    if bracketed:
        return _valid_port(int(bracketed[1]))
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or first != last:
        return None
    suffix = text[first + 1 :]
    return _valid_port(int(suffix)) if suffix.isdigit() else None


def _valid_port(value: int) -> int | None:
    return value if 1 <= value <= 65535 else None


@dataclass(frozen=True)
class GatewaySettings:
    """The gateway endpoint as this install would start it, and where each value came from."""

    port: int
    port_source: str  # "OPENCLAW_GATEWAY_PORT" | "config" | "profile" | "default"
    bind: str | None
    auth_mode: str | None
    custom_host: str | None = None

    def local_http_base(self) -> str:
        """The HTTP base URL to probe from this machine."""
        host = "127.0.0.1"
        # a custom bind to a specific address is only reachable there; wildcard binds answer on loopback
        if self.bind == "custom" and self.custom_host and self.custom_host not in ("0.0.0.0", "::"):  # noqa: S104
            host = self.custom_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _get(data: Mapping[str, Any] | None, *keys: str) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def gateway_settings(config: Mapping[str, Any] | None, env: Mapping[str, str]) -> GatewaySettings:
    """Resolve port, bind and auth mode with OpenClaw's precedence.

    Port: OPENCLAW_GATEWAY_PORT, then `gateway.port`, then the named profile's derived port, then
    18789. `config` may be None (no file, or unreadable): the env and defaults still apply.
    """
    env_port = parse_port_env(env.get("OPENCLAW_GATEWAY_PORT"))
    config_port = _get(config, "gateway", "port")
    profile = normalize_profile(env.get("OPENCLAW_PROFILE"))
    if env_port is not None:
        port, source = env_port, "OPENCLAW_GATEWAY_PORT"
    elif isinstance(config_port, int | float) and not isinstance(config_port, bool) and config_port > 0:
        port, source = int(config_port), "config"
    elif profile is not None:
        port, source = profile_default_port(profile), "profile"
    else:
        port, source = DEFAULT_GATEWAY_PORT, "default"
    bind = _get(config, "gateway", "bind")
    auth_mode = _get(config, "gateway", "auth", "mode")
    custom_host = _get(config, "gateway", "customBindHost")
    return GatewaySettings(
        port=port,
        port_source=source,
        bind=bind if isinstance(bind, str) else None,
        auth_mode=auth_mode if isinstance(auth_mode, str) else None,
        custom_host=custom_host if isinstance(custom_host, str) else None,
    )


def last_touched_version(config: Mapping[str, Any] | None) -> str | None:
    value = _get(config, "meta", "lastTouchedVersion")
    return value if isinstance(value, str) else None
