"""How the collectors reach the watched agent: the target the keeper was started with, or — when
no agent was found at start — one looked up again now and then, so installing OpenClaw (or starting
a lab) while the keeper runs is picked up without a restart.

Looking up a live install may run `npm prefix -g`, so a failed lookup is retried at most once per
`retry_s`; in between, the collectors that need the agent fail fast with the last reason (their
metrics read as stale).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clawkeeper.agent.adapter import AgentAdapter
from clawkeeper.agent.openclaw.adapter import OpenClawAdapter
from clawkeeper.agent.openclaw.configfile import gateway_settings, read_config
from clawkeeper.agent.openclaw.paths import resolve_state_paths
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.errors import AgentNotFound, ClawkeeperError

RETRY_S = 300.0
# A lab instance is found from its state file and /proc (cheap); stopping and starting it changes
# the namespace holder its CLI runs through, so its target is looked up again this often.
LAB_REFRESH_S = 5.0

Resolver = Callable[[Settings], OpenClawTarget]


def _resolve(settings: Settings) -> OpenClawTarget:
    from clawkeeper.targets import resolve_target

    return resolve_target(settings, None)


class AgentLink:
    """The OpenClaw target and adapter the collectors share (thread-safe; collectors run in a pool)."""

    def __init__(
        self,
        settings: Settings,
        target: OpenClawTarget | None = None,
        adapter: AgentAdapter | None = None,
        *,
        resolver: Resolver = _resolve,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        choice: str | None = None,
    ) -> None:
        self.settings = settings
        if target is None and isinstance(adapter, OpenClawAdapter):
            target = adapter.target
        if choice is None and target is not None and target.label.startswith("lab:"):
            choice = target.label
        # a lab target is followed across restarts of its instance (see LAB_REFRESH_S)
        self._lab_choice = choice if choice is not None and choice.startswith("lab") else None
        self._resolved_at = clock()
        self._target = target
        self._adapter = adapter
        self._resolver = resolver
        self._retry_s = retry_s
        self._clock = clock
        self._next_try = 0.0
        self._last_error: ClawkeeperError | None = None
        self._config: tuple[tuple[object, ...], dict[str, Any]] | None = None
        self._lock = threading.Lock()

    @property
    def is_openclaw(self) -> bool:
        return self.settings.agent.kind == "openclaw"

    @property
    def generic_adapter(self) -> AgentAdapter | None:
        """The adapter of a non-OpenClaw agent (health over its configured URLs), if that is the kind."""
        return None if self.is_openclaw else self._adapter

    def target(self) -> OpenClawTarget:
        """The OpenClaw target; raises AgentNotFound (quickly, from cache) while there is none."""
        with self._lock:
            if self._lab_choice is not None:
                return self._lab_target()
            if self._target is not None:
                return self._target
            if not self.is_openclaw:
                name = self.settings.agent.generic.name
                raise AgentNotFound(
                    f"the watched agent is a generic agent ({name}), not OpenClaw",
                    hint="disable this collector in [monitor.collectors]",
                )
            now = self._clock()
            if now < self._next_try and self._last_error is not None:
                raise self._last_error
            try:
                self._target = self._resolver(self.settings)
            except ClawkeeperError as exc:
                self._last_error = exc
                self._next_try = now + self._retry_s
                raise
            return self._target

    def _lab_target(self) -> OpenClawTarget:
        from clawkeeper.targets import resolve_target

        now = self._clock()
        if self._target is not None and now - self._resolved_at < LAB_REFRESH_S:
            return self._target
        if self._target is None and self._last_error is not None and now < self._next_try:
            raise self._last_error
        try:
            self._target = resolve_target(self.settings, self._lab_choice)
        except ClawkeeperError as exc:
            self._target = None
            self._last_error = exc
            self._next_try = now + LAB_REFRESH_S
            raise
        self._resolved_at = now
        return self._target

    def state_dir(self) -> Path:
        target = self.target()
        if target.state_dir is not None:
            return target.state_dir
        return resolve_state_paths(target.process_env()).state_dir

    def config_path(self) -> Path:
        target = self.target()
        if target.config_path is not None:
            return target.config_path
        if target.state_dir is not None:
            return target.state_dir / "openclaw.json"
        return resolve_state_paths(target.process_env()).config_path

    def http_base(self) -> str:
        """Where the gateway's HTTP probes answer: the target's URL, else from openclaw.json as the
        adapter derives it — but from the cached parse, not a fresh JSON5 read every 10 s."""
        target = self.target()
        if target.http_base:
            return target.http_base.rstrip("/")
        env = target.process_env()
        if target.profile and "OPENCLAW_PROFILE" not in env:
            env["OPENCLAW_PROFILE"] = target.profile
        return gateway_settings(self.config(), env).local_http_base()

    def config(self) -> dict[str, Any]:
        """The agent's openclaw.json (JSON5) as a dict; {} when absent; raises when unreadable.

        Parsed again only when the file changes (JSON5 parsing is slow for a 10 s collector)."""
        path = self.config_path()
        try:
            st = path.stat()
            stamp: tuple[object, ...] = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = (str(path), None)
        with self._lock:
            if self._config is not None and self._config[0] == stamp:
                return self._config[1]
        read = read_config(path)
        if read.problem is not None:
            raise read.problem.to_error()
        data = dict(read.data or {})
        with self._lock:
            self._config = (stamp, data)
        return data
