"""`Sandbox`: one lab instance of a real OpenClaw, brought up, inspected, stopped and removed.

`up` goes through phases, each recorded before it changes anything:
resolve the version -> choose Node -> install (shared, once) -> create the instance -> isolate
(namespaces + mount plan) -> onboard (first time only) -> bridge the port -> start the gateway ->
wait for /readyz. Every process it starts is written to `lab.json` (PID + start time) the moment it
exists, and carries an environment marker, so an interrupted `up` (Ctrl-C, SIGTERM, kill -9) is
cleaned up: at once by `up` itself for signals, or by the next `up`/`down` for kill -9.

The update runbook and disaster-recovery drills reuse this class (and its `target()`); nothing
here prints.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.sandbox import gateway, procscan
from clawkeeper.agent.sandbox.install import (
    Runtime,
    clean_partial_installs,
    ensure_runtime,
    installed_runtime,
)
from clawkeeper.agent.sandbox.isolation import (
    Holder,
    Isolation,
    choose_isolation,
    prepare,
    probe_capabilities,
    start_holder,
    stop_holder,
)
from clawkeeper.agent.sandbox.layout import InstanceLayout, LabLayout, check_instance_name
from clawkeeper.agent.sandbox.locks import file_lock
from clawkeeper.agent.sandbox.mounts import MountPlan, lab_plan
from clawkeeper.agent.sandbox.node import NodeToolchain, select_node
from clawkeeper.agent.sandbox.procscan import MARKER_ENV, FoundProcess, ProcessRef
from clawkeeper.agent.sandbox.progress import Progress, ProgressEvent, StepRecorder, no_progress, unrecorded
from clawkeeper.agent.sandbox.registry import RegistryClient, Release, is_exact_version
from clawkeeper.agent.sandbox.state import (
    InstanceState,
    fingerprint,
    load_state,
    now_iso,
    read_or_create_token,
    save_state,
)
from clawkeeper.config import LabSettings, ReleasesSettings
from clawkeeper.effects import proc
from clawkeeper.effects.fs import ensure_dir
from clawkeeper.errors import NotFound, ResourceConflict, SandboxError

ONBOARD_TIMEOUT = 300.0
GATEWAY_STOP_TIMEOUT = 20.0
SCRATCH_DIRS = (Path("/var/tmp"), Path("/dev/shm"))  # noqa: S108 - replaced by private tmpfs in the lab


@dataclass(frozen=True)
class UpReport:
    name: str
    version: str
    port: int
    isolation: str
    http_base: str
    already_running: bool
    installed: bool  # this call installed the runtime
    onboarded: bool  # this call onboarded a fresh state
    node: dict[str, str]
    pids: dict[str, int]
    state_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": f"lab:{self.name}",
            "version": self.version,
            "port": self.port,
            "isolation": self.isolation,
            "http_base": self.http_base,
            "already_running": self.already_running,
            "installed": self.installed,
            "onboarded": self.onboarded,
            "node": self.node,
            "pids": self.pids,
            "state_dir": str(self.state_dir),
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class InstanceStatus:
    name: str
    exists: bool
    version: str | None = None
    port: int | None = None
    isolation: str | None = None
    phase: str | None = None
    running: bool = False
    ready: bool | None = None  # None when not probed (not running)
    readiness_error: str | None = None
    http_base: str | None = None
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    stale: tuple[str, ...] = ()  # recorded processes that are gone
    created_at: str | None = None
    token_fingerprint: str | None = None
    home: Path | None = None
    state_dir: Path | None = None
    node: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": f"lab:{self.name}",
            "exists": self.exists,
            "version": self.version,
            "port": self.port,
            "isolation": self.isolation,
            "phase": self.phase,
            "running": self.running,
            "ready": self.ready,
            "readiness_error": self.readiness_error,
            "http_base": self.http_base,
            "processes": self.processes,
            "stale": list(self.stale),
            "created_at": self.created_at,
            "token_fingerprint": self.token_fingerprint,
            "home": str(self.home) if self.home else None,
            "state_dir": str(self.state_dir) if self.state_dir else None,
            "node": self.node,
        }


@dataclass(frozen=True)
class StoppedProcess:
    role: str  # gateway | bridge | holder | ... | leftover
    pid: int
    how: str  # "SIGTERM", "SIGKILL", "namespace ended"

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "pid": self.pid, "how": self.how}


@dataclass(frozen=True)
class DownReport:
    name: str
    was_running: bool
    stopped: tuple[StoppedProcess, ...] = ()
    stale: tuple[str, ...] = ()  # recorded but already gone

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "was_running": self.was_running,
            "stopped": [s.to_json() for s in self.stopped],
            "stale": list(self.stale),
        }


@dataclass(frozen=True)
class DestroyReport:
    name: str
    dry_run: bool
    actions: tuple[str, ...]
    down: DownReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dry_run": self.dry_run,
            "actions": list(self.actions),
            "down": self.down.to_json() if self.down else None,
        }


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while we clean up, so a second Ctrl-C cannot leave half-stopped processes."""
    signals = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Sandbox:
    """One named lab instance under `LabSettings.root`."""

    def __init__(
        self,
        lab: LabSettings,
        *,
        name: str = "default",
        releases: ReleasesSettings | None = None,
        progress: Progress = no_progress,
        record: StepRecorder = unrecorded,
    ) -> None:
        self.lab = lab
        self.name = check_instance_name(name)
        self.releases = releases or ReleasesSettings()
        self.layout = LabLayout(lab.root)
        self.instance: InstanceLayout = self.layout.instance(name)
        self.progress = progress
        self.record = record

    # -- reading -----------------------------------------------------------------------------
    def state(self) -> InstanceState | None:
        return load_state(self.instance.state_file)

    def http_base(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def status(self, *, probe: bool = True) -> InstanceStatus:
        """What the instance is and whether it runs; `probe` also asks /readyz. Changes nothing."""
        state = self.state()
        if state is None:
            return InstanceStatus(name=self.name, exists=self.instance.root.is_dir())
        live = state.live_processes()
        running = self._is_running(state, live)
        readiness = gateway.probe_ready(self.http_base(state.port)) if running and probe else None
        processes = {
            role: {"pid": ref.pid, "alive": role in live} for role, ref in sorted(state.processes.items())
        }
        return InstanceStatus(
            name=self.name,
            exists=True,
            version=state.version,
            port=state.port,
            isolation=state.isolation,
            phase=state.phase,
            running=running,
            ready=readiness.ready if readiness else None,
            readiness_error=readiness.error if readiness else None,
            http_base=self.http_base(state.port),
            processes=processes,
            stale=tuple(sorted(set(state.processes) - set(live))),
            created_at=state.created_at,
            token_fingerprint=state.token_fingerprint,
            home=self.instance.home,
            state_dir=self.instance.state_dir,
            node={k: v for k, v in state.node.items() if k != "bin_dir"},
        )

    @staticmethod
    def _environment_roles(state: InstanceState) -> set[str]:
        """Processes without which the instance cannot be reached at all (its namespaces, its bridge)."""
        return {"holder", "bridge"} if state.isolation != Isolation.NONE else set()

    @classmethod
    def _required_roles(cls, state: InstanceState) -> set[str]:
        return {"gateway"} | cls._environment_roles(state)

    def _is_running(self, state: InstanceState, live: dict[str, ProcessRef]) -> bool:
        return state.phase == "running" and self._required_roles(state) <= set(live)

    def _is_reachable(self, state: InstanceState, live: dict[str, ProcessRef]) -> bool:
        """Up, or up with a dead gateway: its commands and URL still work, and status can say "down"."""
        return state.phase == "running" and self._environment_roles(state) <= set(live)

    def target(self) -> OpenClawTarget:
        """How to reach this instance's OpenClaw (CLI inside its namespaces, HTTP via the bridge).

        Works while the namespaces and bridge live, even if the gateway itself died, so that
        `status` can report the gateway as down instead of the instance as missing.
        """
        state = self.state()
        if state is None or not self._is_reachable(state, state.live_processes()):
            raise SandboxError(
                f"lab instance {self.name!r} is not running",
                hint=f"start it with `clawkeeper lab up --name {self.name}`",
            )
        return self._target_for(state)

    def _target_for(self, state: InstanceState) -> OpenClawTarget:
        runtime = Runtime(
            version=state.version, prefix=Path(state.runtime or self.layout.runtime_dir(state.version))
        )
        mode = Isolation(state.isolation)
        prefix: tuple[str, ...] = ()
        if mode is not Isolation.NONE:
            holder = state.processes["holder"]
            prefix = Holder(mode, holder.pid, 0).prefix(self.instance.home)
        bin_dir = state.node.get("bin_dir")
        return OpenClawTarget(
            label=f"lab:{self.name}",
            binary=runtime.binary,
            node_bin_dir=Path(bin_dir) if bin_dir else None,
            env=self._env(runtime.prefix, mode),
            exec_prefix=prefix,
            http_base=self.http_base(state.port),
            state_dir=self.instance.state_dir,
            config_path=self.instance.config_path,
            isolation=mode.value,
        )

    def _env(self, prefix: Path, mode: Isolation) -> dict[str, str]:
        env = gateway.instance_env(
            self.instance,
            npm_prefix=prefix,
            npm_cache=self.layout.npm_cache,
            private_tmp=mode is not Isolation.NONE,
        )
        env[MARKER_ENV] = str(self.instance.root)
        return env

    def _process_env(self, prefix: Path, mode: Isolation, node_bin: Path | None) -> dict[str, str]:
        env = gateway.sanitized_base_env()
        env.update(self._env(prefix, mode))
        if node_bin is not None:
            env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- up ------------------------------------------------------------------------------------
    def up(
        self, *, version: str | None = None, port: int | None = None, isolation: str | None = None
    ) -> UpReport:
        """Bring the instance up (installing and onboarding as needed); idempotent when it runs."""
        ensure_dir(self.layout.instances)
        with file_lock(self.layout.instance_lock(self.name), what=f"lab instance {self.name!r}"):
            return self._up_locked(version, port, isolation)

    def _phase(self, phase: str, message: str, state: str = "start", elapsed: float | None = None) -> None:
        self.progress(ProgressEvent(phase, message, state, elapsed))

    def _up_locked(self, version_spec: str | None, port: int | None, isolation: str | None) -> UpReport:
        timings: dict[str, float] = {}
        notes: list[str] = []
        state = self.state()
        wanted_port = port or (state.port if state else self.lab.port)
        spec = version_spec or (state.version if state else self.lab.version)

        if state is not None:
            live = state.live_processes()
            if self._is_running(state, live):
                same_version = version_spec is None or not is_exact_version(spec) or spec == state.version
                if not same_version:
                    raise ResourceConflict(
                        f"lab instance {self.name!r} is running OpenClaw {state.version}, not {spec}",
                        hint=f"stop it with `clawkeeper lab down --name {self.name}` or use another --name",
                    )
                if port is not None and port != state.port:
                    raise ResourceConflict(
                        f"lab instance {self.name!r} is running on port {state.port}, not {port}",
                        hint=f"stop it with `clawkeeper lab down --name {self.name}` first",
                    )
                readiness = gateway.probe_ready(self.http_base(state.port))
                if readiness.ready:
                    return self._report(
                        state,
                        already_running=True,
                        installed=False,
                        onboarded=False,
                        timings={},
                        notes=("already running",),
                    )
                notes.append(f"running but not ready ({readiness.error}); restarting it")
            elif state.processes:
                notes.append("cleaned up processes of an earlier, unfinished run")
            self._stop_all(state)
            state = self._forget_processes(state)
            save_state(self.instance.state_file, state)

        # Fail fast on a taken port or impossible isolation, before downloading anything.
        self._check_port(wanted_port)
        mode = choose_isolation(isolation or self.lab.isolation, probe_capabilities())

        started = time.monotonic()
        self._phase("resolve", f"resolving OpenClaw {spec}")
        release = self._resolve(spec)
        if state is not None and state.phase != "created" and release.version != state.version:
            raise ResourceConflict(
                f"lab instance {self.name!r} holds the state of OpenClaw {state.version}, "
                f"not {release.version}",
                hint=f"use another --name, or remove it with `clawkeeper lab destroy --name {self.name}`",
            )
        timings["resolve"] = time.monotonic() - started
        self._phase("resolve", f"OpenClaw {release.version}", "done", timings["resolve"])

        started = time.monotonic()
        self._phase("node", f"choosing Node for {release.node_range or 'any Node'}")
        toolchain = select_node(
            release.node_range,
            openclaw_version=release.version,
            configured=self.lab.node,
            links_dir=self.layout.node_links,
        )
        timings["node"] = time.monotonic() - started
        self._phase("node", f"Node {toolchain.version} ({toolchain.source})", "done", timings["node"])

        removed = clean_partial_installs(self.layout)
        if removed:
            notes.append(f"removed {len(removed)} unfinished install(s)")
        started = time.monotonic()
        runtime, installed = ensure_runtime(
            self.layout,
            release.version,
            toolchain,
            timeout=self.lab.install_timeout,
            registry=self.releases.registry,
            progress=self.progress,
            record=self.record,
        )
        timings["install"] = time.monotonic() - started
        if not installed:
            self._phase(
                "install", f"openclaw {release.version} already installed", "done", timings["install"]
            )

        return self._start(state, release, toolchain, runtime, mode, wanted_port, timings, notes, installed)

    def _resolve(self, spec: str) -> Release:
        if is_exact_version(spec):
            existing = installed_runtime(self.layout, spec)
            if existing is not None:  # offline: the installed package says which Node it needs
                return Release(
                    requested=spec, version=spec, node_range=existing.node_range(), source="installed"
                )
        return RegistryClient(self.releases).resolve(spec)

    def _check_port(self, port: int) -> None:
        if procscan.port_is_free(port):
            return
        owners = procscan.port_owners(port)
        who = ", ".join(o.describe() for o in owners) if owners else "another process"
        raise ResourceConflict(
            f"port {port} is in use by {who}", hint="pass --port with a free port, or stop that process"
        )

    def _start(
        self,
        previous: InstanceState | None,
        release: Release,
        toolchain: NodeToolchain,
        runtime: Runtime,
        mode: Isolation,
        port: int,
        timings: dict[str, float],
        notes: list[str],
        installed: bool,
    ) -> UpReport:
        inst = self.instance
        fresh = previous is None or previous.phase == "created"
        node_info = {**toolchain.to_json(), "bin_dir": str(toolchain.bin_dir)}
        if fresh:
            with self.record("create lab instance", {"name": self.name, "dir": str(inst.root)}):
                if inst.home.exists():  # an onboarding that never finished: start it over
                    shutil.rmtree(inst.home)
                for directory in (inst.root, inst.home, inst.tmp, inst.logs):
                    ensure_dir(directory)
                inst.tmp.chmod(0o1777)  # it becomes /tmp inside the namespace
                token = read_or_create_token(inst.token_file)
                gateway.seed_config(inst)
            state = InstanceState(
                name=self.name,
                version=release.version,
                port=port,
                isolation=mode.value,
                created_at=previous.created_at if previous else now_iso(),
                token_fingerprint=fingerprint(token),
                node=node_info,
                runtime=str(runtime.prefix),
            )
        else:
            assert previous is not None  # noqa: S101 - fresh is False only with a previous state
            for directory in (inst.tmp, inst.logs):
                ensure_dir(directory)
            state = previous.evolve(isolation=mode.value, node=node_info, runtime=str(runtime.prefix))
        save_state(inst.state_file, state)

        env = self._process_env(runtime.prefix, mode, toolchain.bin_dir)
        holder: Holder | None = None
        onboarded = False
        try:
            if mode is not Isolation.NONE:
                started = time.monotonic()
                self._phase("isolate", f"creating {mode.value} isolation")
                with self.record("start lab namespaces", {"mode": mode.value}) as detail:
                    holder, _popen = start_holder(mode, env=env, log_path=inst.holder_log, cwd=inst.root)
                    state = state.with_process("holder", ProcessRef.of(holder.pid))
                    state = state.with_process("holder_parent", ProcessRef.of(holder.parent))
                    state = state.evolve(namespaces=holder.namespaces)
                    save_state(inst.state_file, state)
                    prepare(holder, self.mount_plan(toolchain, runtime), env=env)
                    detail.update(holder_pid=holder.pid, namespaces=holder.namespaces)
                timings["isolate"] = time.monotonic() - started
                self._phase(
                    "isolate", f"{mode.value}: loopback only, private /tmp", "done", timings["isolate"]
                )
            prefix = holder.prefix(inst.home) if holder else ()

            if fresh:
                started = time.monotonic()
                self._phase("onboard", "onboarding (no model key)")
                self._onboard(runtime, prefix, env, port, notes)
                state = state.evolve(phase="onboarded")
                save_state(inst.state_file, state)
                onboarded = True
                timings["onboard"] = time.monotonic() - started
                self._phase("onboard", "onboarded", "done", timings["onboard"])
            elif previous is not None and previous.port != port:
                self._set_port(runtime, prefix, env, port)
                state = state.evolve(port=port)
                save_state(inst.state_file, state)

            started = time.monotonic()
            self._phase("start", f"starting the gateway on 127.0.0.1:{port}")
            state = state.evolve(phase="starting", port=port)
            if holder is not None:
                with self.record("start port bridge", {"port": port, "holder": holder.pid}) as detail:
                    bridge = self._start_bridge(holder, port, env)
                    state = state.with_process("bridge", ProcessRef.of(bridge.pid))
                    save_state(inst.state_file, state)
                    detail["pid"] = bridge.pid
            with self.record("start gateway", {"version": release.version, "port": port}) as detail:
                wrapper = self._spawn_gateway(runtime, prefix, env, port)
                state = state.with_process("gateway_wrapper", ProcessRef.of(wrapper.pid))
                save_state(inst.state_file, state)
                detail["wrapper_pid"] = wrapper.pid
                gateway.wait_ready(
                    self.http_base(port),
                    timeout=self.lab.ready_timeout,
                    still_running=lambda: self._still_starting(state),
                    log_path=inst.gateway_log,
                    progress=self.progress,
                )
                gateway_pid = self._gateway_host_pid(state)
                if gateway_pid is not None:
                    state = state.with_process("gateway", ProcessRef.of(gateway_pid))
                    detail["gateway_pid"] = gateway_pid
                else:  # no lock file seen: the wrapper is the best handle we have
                    state = state.with_process("gateway", ProcessRef.of(wrapper.pid))
                    notes.append("gateway PID not found in its lock file; tracking the wrapper")
            state = state.evolve(phase="running")
            save_state(inst.state_file, state)
            timings["start"] = time.monotonic() - started
            self._phase("ready", f"gateway ready at {self.http_base(port)}", "done", timings["start"])
        except BaseException:
            # Stop what this call started. A fresh state that never finished onboarding stays
            # "created", so the next `up` onboards again from scratch.
            usable = onboarded or not fresh
            with _signals_deferred():
                self._stop_all(state)
                save_state(
                    inst.state_file,
                    self._forget_processes(state).evolve(phase="stopped" if usable else "created"),
                )
            raise
        return self._report(
            state,
            already_running=False,
            installed=installed,
            onboarded=onboarded,
            timings=timings,
            notes=tuple(notes),
        )

    def mount_plan(self, toolchain: NodeToolchain | None = None, runtime: Runtime | None = None) -> MountPlan:
        """The lab's plan: instance tmp/ as /tmp, keeping the lab and its Node visible if under /tmp."""
        keep: list[Path] = [self.layout.root.resolve()]
        if toolchain is not None:
            keep += [toolchain.bin_dir.resolve(), toolchain.node.resolve().parent]
        if runtime is not None:
            keep.append(runtime.prefix.resolve())
        keep += python_paths()
        scratch = [p for p in SCRATCH_DIRS if p.is_dir()]
        return lab_plan(self.instance.tmp, keep, scratch=scratch)

    def _onboard(
        self, runtime: Runtime, prefix: tuple[str, ...], env: dict[str, str], port: int, notes: list[str]
    ) -> None:
        token = read_or_create_token(self.instance.token_file)
        with self.record("onboard", {"port": port, "token_fingerprint": fingerprint(token)}) as detail:
            argv = [*prefix, str(runtime.binary), *gateway.onboard_args(port, token)]
            result = proc.run(argv, timeout=ONBOARD_TIMEOUT, env=env, cwd=self.instance.home)
            if not result.ok:
                raise SandboxError(
                    f"OpenClaw onboarding failed (exit {result.returncode})",
                    hint=f"{result.stderr_tail(400)} (OpenClaw log: {self.instance.openclaw_log})",
                )
            detail["duration_s"] = round(result.duration_s, 2)
            # Feature statistics off as well, where this version has the command.
            telemetry = proc.run(
                [*prefix, str(runtime.binary), "telemetry", "off"],
                timeout=120,
                env=env,
                cwd=self.instance.home,
            )
            detail["telemetry_off"] = telemetry.ok
            if not telemetry.ok:
                notes.append("`openclaw telemetry off` is not available in this version")

    def _set_port(self, runtime: Runtime, prefix: tuple[str, ...], env: dict[str, str], port: int) -> None:
        with self.record("set gateway port", {"port": port}):
            argv = [*prefix, str(runtime.binary), "config", "set", "gateway.port", str(port)]
            result = proc.run(argv, timeout=120, env=env, cwd=self.instance.home)
            if not result.ok:
                raise SandboxError(f"could not set gateway.port to {port}: {result.stderr_tail(300)}")

    def _start_bridge(self, holder: Holder, port: int, env: dict[str, str]) -> Any:
        argv = [
            sys.executable,
            "-m",
            "clawkeeper.agent.sandbox.netbridge",
            "--port",
            str(port),
            "--holder",
            str(holder.pid),
        ]
        if holder.mode is Isolation.USERNS:
            argv.append("--userns")
        bridge = proc.spawn(argv, log_path=self.instance.bridge_log, env=env, cwd=self.instance.root)
        # It binds the host port before anything else; give it a moment and make sure it stayed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if bridge.poll() is not None:
                raise SandboxError(
                    f"the port bridge for 127.0.0.1:{port} exited ({bridge.returncode})",
                    hint=gateway.log_tail(self.instance.bridge_log, 3),
                )
            if not procscan.port_is_free(port):
                return bridge
            time.sleep(0.05)
        raise SandboxError(f"the port bridge did not start listening on 127.0.0.1:{port}")

    def _spawn_gateway(
        self, runtime: Runtime, prefix: tuple[str, ...], env: dict[str, str], port: int
    ) -> Any:
        log = self.instance.gateway_log
        with log.open("a") as handle:
            handle.write(
                f"--- clawkeeper lab: starting openclaw {runtime.version} gateway on port {port} ---\n"
            )
        argv = [*prefix, str(runtime.binary), *gateway.gateway_args(port)]
        return proc.spawn(argv, log_path=log, env=env, cwd=self.instance.home)

    def _still_starting(self, state: InstanceState) -> bool:
        current = self.state() or state
        roles = {"gateway_wrapper"} | ({"holder", "bridge"} if current.isolation != Isolation.NONE else set())
        return roles <= set(current.live_processes())

    def _gateway_host_pid(self, state: InstanceState) -> int | None:
        """The gateway's host PID: from its lock file, mapped out of the PID namespace if any."""
        deadline = time.monotonic() + 5  # the lock file is written around the time /readyz turns ready
        while time.monotonic() < deadline:
            ns_pid = gateway.gateway_lock_pid(self.instance)
            if ns_pid is not None:
                if state.isolation == Isolation.NONE:
                    return ns_pid if proc.pid_alive(ns_pid) else None
                pid_ns = state.namespaces.get("pid")
                if pid_ns is not None:
                    host = procscan.host_pid_for_ns_pid(ns_pid, pid_ns)
                    if host is not None:
                        return host
            time.sleep(0.1)
        return None

    def _report(
        self,
        state: InstanceState,
        *,
        already_running: bool,
        installed: bool,
        onboarded: bool,
        timings: dict[str, float],
        notes: tuple[str, ...],
    ) -> UpReport:
        return UpReport(
            name=self.name,
            version=state.version,
            port=state.port,
            isolation=state.isolation,
            http_base=self.http_base(state.port),
            already_running=already_running,
            installed=installed,
            onboarded=onboarded,
            node={k: v for k, v in state.node.items() if k != "bin_dir"},
            pids={role: ref.pid for role, ref in sorted(state.processes.items())},
            state_dir=self.instance.state_dir,
            timings=timings,
            notes=notes,
        )

    # -- down / destroy ------------------------------------------------------------------------
    def down(self) -> DownReport:
        """Stop every process of the instance and verify none is left. The state stays."""
        ensure_dir(self.layout.instances)
        with file_lock(self.layout.instance_lock(self.name), what=f"lab instance {self.name!r}"):
            return self._down_locked()

    def _down_locked(self) -> DownReport:
        state = self.state()
        if state is None:
            if not self.instance.root.is_dir():
                raise NotFound(
                    f"no lab instance named {self.name!r} under {self.layout.root}",
                    hint="`clawkeeper lab list` shows the instances",
                )
            stopped = self._stop_leftovers(None)
            return DownReport(self.name, was_running=False, stopped=tuple(stopped))
        live = state.live_processes()
        was_running = self._is_running(state, live)
        stale = tuple(sorted(set(state.processes) - set(live)))
        stopped = self._stop_all(state)
        after = self._forget_processes(state)
        save_state(
            self.instance.state_file, after.evolve(phase="stopped" if state.phase != "created" else "created")
        )
        return DownReport(self.name, was_running=was_running, stopped=tuple(stopped), stale=stale)

    def _forget_processes(self, state: InstanceState) -> InstanceState:
        return state.evolve(processes={}, namespaces={})

    def _stop_all(self, state: InstanceState) -> list[StoppedProcess]:
        """Gateway (SIGTERM), then wrapper and bridge, then SIGKILL the namespace init; verify."""
        stopped: list[StoppedProcess] = []
        live = state.live_processes()
        if state.processes:
            with self.record("stop lab processes", {"pids": {r: p.pid for r, p in live.items()}}) as detail:
                gateway_ref = live.get("gateway")
                pid_ns = self._trusted_pid_ns(state)
                if gateway_ref is None and pid_ns:  # interrupted before the gateway PID was saved
                    ns_pid = gateway.gateway_lock_pid(self.instance)
                    if pid_ns and ns_pid is not None:
                        host = procscan.host_pid_for_ns_pid(ns_pid, pid_ns)
                        gateway_ref = ProcessRef.of(host) if host is not None else None
                if gateway_ref is not None and gateway_ref.alive():
                    self._phase("stop", f"stopping the gateway (pid {gateway_ref.pid})")
                    how = (
                        "SIGTERM"
                        if proc.terminate(gateway_ref.pid, timeout=GATEWAY_STOP_TIMEOUT, kill_after=False)
                        else "SIGKILL"
                    )
                    if how == "SIGKILL":
                        proc.terminate(gateway_ref.pid, timeout=0)
                    stopped.append(StoppedProcess("gateway", gateway_ref.pid, how))
                for role in ("gateway_wrapper", "bridge"):
                    ref = live.get(role)
                    if (
                        ref is not None
                        and ref.pid != (gateway_ref.pid if gateway_ref else None)
                        and ref.alive()
                    ):
                        proc.terminate(ref.pid, timeout=5)
                        stopped.append(StoppedProcess(role, ref.pid, "SIGTERM"))
                holder = live.get("holder")
                if holder is not None and holder.alive():
                    # whatever still runs in the namespace ends with its init; name it in the report
                    if pid_ns:
                        for found in procscan.processes_in_pid_ns(pid_ns, exclude=frozenset({holder.pid})):
                            stopped.append(StoppedProcess("in namespace", found, "namespace ended"))
                    parent = live.get("holder_parent")
                    stop_holder(holder.pid, parent.pid if parent and parent.alive() else None)
                    stopped.append(StoppedProcess("holder", holder.pid, "SIGKILL"))
                detail["stopped"] = [s.to_json() for s in stopped]
        stopped += self._stop_leftovers(state)
        return stopped

    def _stop_leftovers(self, state: InstanceState | None) -> list[StoppedProcess]:
        """Anything still tied to the instance (marker, HOME, PID namespace): stop it, then insist."""
        stopped: list[StoppedProcess] = []
        exclude = frozenset({os.getpid(), os.getppid()})
        pid_ns = self._trusted_pid_ns(state)
        for attempt in range(3):
            left = self.leftover_processes(pid_ns, exclude=exclude)
            if not left:
                return stopped
            with self.record("stop leftover processes", {"pids": [p.pid for p in left]}):
                for found in left:
                    if attempt == 0:
                        proc.terminate(found.pid, timeout=5)
                        stopped.append(StoppedProcess("leftover", found.pid, "SIGTERM"))
                    else:
                        proc.terminate(found.pid, timeout=0)
            time.sleep(0.2)
        left = self.leftover_processes(pid_ns, exclude=exclude)
        if left:
            raise SandboxError(
                f"{len(left)} process(es) of lab instance {self.name!r} would not stop: "
                + ", ".join(f"{p.pid} ({p.command[:60]})" for p in left[:5]),
                hint="stop them by hand (kill -KILL <pid>) and run `clawkeeper lab down` again",
            )
        return stopped

    @staticmethod
    def _trusted_pid_ns(state: InstanceState | None) -> str | None:
        """The instance's PID namespace, only while its holder (same PID and start time) lives.

        Namespace numbers are reused once a namespace is gone; matching a stale one could hit
        another instance's processes.
        """
        if state is None:
            return None
        holder = state.processes.get("holder")
        recorded = state.namespaces.get("pid")
        if holder is None or recorded is None or not holder.alive():
            return None
        return recorded if procscan.ns_link(holder.pid, "pid") == recorded else None

    def leftover_processes(
        self, pid_ns: str | None = None, *, exclude: frozenset[int] = frozenset()
    ) -> list[FoundProcess]:
        """Processes tied to this instance by environment marker, HOME, or its PID namespace."""
        return procscan.processes_of_instance(self.instance.root, self.instance.home, pid_ns, exclude=exclude)

    def destroy(self, *, dry_run: bool = False, remove_all: bool = False) -> DestroyReport:
        """down + remove the instance directory; `remove_all` also removes installs and the npm cache."""
        ensure_dir(self.layout.instances)
        with file_lock(self.layout.instance_lock(self.name), what=f"lab instance {self.name!r}"):
            exists = self.instance.root.is_dir()
            if not exists and not remove_all:
                raise NotFound(
                    f"no lab instance named {self.name!r} under {self.layout.root}",
                    hint="`clawkeeper lab list` shows the instances",
                )
            shared = [
                self.layout.runtimes,
                self.layout.npm_cache,
                self.layout.node_links,
                self.layout.root / "logs",
            ]
            if remove_all:
                others = [n for n in running_instance_names(self.lab) if n != self.name]
                if others:
                    raise ResourceConflict(
                        "other lab instances still run on these installs: " + ", ".join(others),
                        hint="stop them with `clawkeeper lab down --name <name>` first",
                    )
            state = self.state() if exists else None
            live = state.live_processes() if state else {}
            actions: list[str] = []
            if live:
                actions.append(
                    f"stop {len(live)} process(es): " + ", ".join(f"{r} {p.pid}" for r, p in live.items())
                )
            if exists:
                actions.append(f"remove {self.instance.root}")
            if remove_all:
                actions += [f"remove {p}" for p in shared if p.exists()]
            if dry_run:
                return DestroyReport(self.name, True, tuple(f"would {a}" for a in actions))
            down = self._down_locked() if exists else None
            if exists:
                with self.record("remove lab instance", {"dir": str(self.instance.root)}):
                    shutil.rmtree(self.instance.root)
            if remove_all:
                with self.record("remove lab installs and cache", {"paths": [str(p) for p in shared]}):
                    for path in shared:
                        shutil.rmtree(path, ignore_errors=True)
            # The lock file goes too (we still hold it); a new instance of that name makes a new one.
            self.layout.instance_lock(self.name).unlink(missing_ok=True)
            return DestroyReport(self.name, False, tuple(actions), down)


def python_paths() -> list[Path]:
    """What this Python needs to run inside the sandbox: the venv (as named and as resolved), the
    interpreter, and clawkeeper's own source (an editable install). Paths under /tmp disappear
    behind the private /tmp unless they are kept visible, and a checkout may well live there."""
    import clawkeeper

    package_root = Path(clawkeeper.__file__).resolve().parent.parent
    candidates = [
        Path(sys.prefix),
        Path(sys.prefix).resolve(),
        Path(sys.exec_prefix),
        Path(sys.executable).parent,
        Path(sys.executable).resolve().parent,
        package_root,
    ]
    return list(dict.fromkeys(candidates))


def running_instance_names(lab: LabSettings, *, reachable: bool = False) -> list[str]:
    """Instances that are up; with `reachable`, also those whose gateway alone has died."""
    layout = LabLayout(lab.root)
    names = []
    for name in layout.instance_names():
        sandbox = Sandbox(lab, name=name)
        with contextlib.suppress(SandboxError):
            state = sandbox.state()
            if state is None:
                continue
            live = state.live_processes()
            if sandbox._is_reachable(state, live) if reachable else sandbox._is_running(state, live):
                names.append(name)
    return names


def list_instances(lab: LabSettings, *, probe: bool = True) -> list[InstanceStatus]:
    """Status of every instance under the lab root (probing /readyz of the running ones)."""
    out = []
    for name in LabLayout(lab.root).instance_names():
        try:
            out.append(Sandbox(lab, name=name).status(probe=probe))
        except SandboxError:
            out.append(InstanceStatus(name=name, exists=True, phase="damaged"))
    return out


def running_lab_targets(lab: LabSettings) -> list[OpenClawTarget]:
    """Targets of the lab instances that are up ("default" first). Cheap: no HTTP, only /proc.

    An instance whose gateway died but whose namespaces live is included: acting on it shows the
    gateway down, which is the truth a user needs.
    """
    targets = []
    names = running_instance_names(lab, reachable=True)
    names.sort(key=lambda n: (n != "default", n))
    for name in names:
        with contextlib.suppress(SandboxError):
            targets.append(Sandbox(lab, name=name).target())
    return targets
