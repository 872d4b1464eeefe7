"""`OpenClawAdapter`: the AgentAdapter for one OpenClaw install (live or lab), read-only.

Every question is answered from OpenClaw's own surfaces — `--json` CLI commands, the gateway's
unauthenticated HTTP probes, the package's `package.json`/`build-info.json` and its JSON5 config —
through effects.proc / effects.http. Each `openclaw` call costs 2-6 s of Node start-up, so the
independent calls of one question run concurrently in threads.

Failure policy: a down gateway is data (`Health.live=False`, `BusyState.busy=None`), never an
exception; output in a shape we do not understand is `AgentProtocolError` naming the command and
field; a missing binary is `AgentNotFound`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.agent.adapter import (
    BusyState,
    Discovery,
    EndpointCheck,
    Finding,
    GateResult,
    GatewayEndpoint,
    Health,
    InstallKind,
    NodeRuntime,
    ServiceUnit,
)
from clawkeeper.agent.openclaw import install, outputs
from clawkeeper.agent.openclaw.configfile import (
    ConfigRead,
    GatewaySettings,
    gateway_settings,
    last_touched_version,
    read_config,
)
from clawkeeper.agent.openclaw.discovery import locate_binary, npm_global_prefix, target_for
from clawkeeper.agent.openclaw.paths import StatePaths, os_home, resolve_state_paths
from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.openclaw.versions import parse_cli_version
from clawkeeper.config import OpenClawSettings
from clawkeeper.effects import http, proc
from clawkeeper.errors import AgentNotFound, CommandFailed, OperationTimeout
from clawkeeper.outcomes import Outcome

# How long the gateway may take to answer one RPC (`--timeout` of the CLI, in ms) and one HTTP
# probe. Short enough that a down gateway is reported in seconds, long enough for a busy 2-core box.
RPC_TIMEOUT_MS = 5000
HTTP_TIMEOUT_S = 5.0
# `update status` asks the npm registry; offline it fails after its own timeout (seconds).
UPDATE_STATUS_REGISTRY_TIMEOUT_S = 3
UPDATE_STATUS_CALL_TIMEOUT_S = 20.0
BLOCKING_SEVERITIES = frozenset({"error", "critical"})

# The read-only commands the adapter runs (recorded for both versions in tests/fixtures/openclaw/).
_RPC_TIMEOUT = ("--timeout", str(RPC_TIMEOUT_MS))
HEALTH_ARGS = ("health", "--json", *_RPC_TIMEOUT)
GATEWAY_STATUS_ARGS = ("gateway", "status", "--json", "--require-rpc", *_RPC_TIMEOUT)
STATUS_RPC_ARGS = ("gateway", "call", "status", "--json", *_RPC_TIMEOUT)
TASKS_ARGS = ("tasks", "list", "--status", "running", "--json")
CRON_ARGS = ("cron", "list", "--json", *_RPC_TIMEOUT)
DOCTOR_ARGS = ("doctor", "--lint", "--json")
VALIDATE_ARGS = ("config", "validate", "--json")
UPDATE_STATUS_ARGS = ("update", "status", "--json", "--timeout", str(UPDATE_STATUS_REGISTRY_TIMEOUT_S))


def _label(args: Sequence[str]) -> str:
    """`openclaw <args>` without the `--timeout N` we add: how errors name the command."""
    shown: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--timeout":
            skip = True
        else:
            shown.append(arg)
    return "openclaw " + " ".join(shown)


@dataclass(frozen=True)
class _Json:
    """One CLI call's outcome: its parsed JSON, or why there is none (timeout, no output)."""

    data: Any = None
    returncode: int | None = None
    duration_s: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Probe:
    check: EndpointCheck
    body: dict[str, Any] | None = None  # the JSON document, when the endpoint gave one


# `rootRequests` counts every gateway request in flight: other clients' reads, clawkeeper's own
# concurrent calls (health, cron list), and the gateway's own idle maintenance (2026.9 prunes SQLite
# snapshot staging every 15 minutes under such an admission). Alone it means busy only when it is
# still there on fresh samples taken by themselves; every other counter counts at once.
TRANSIENT_COUNTERS = frozenset({"rootRequests"})
CONFIRM_SAMPLES = 2  # further samples of the status RPC before transient work counts as busy
CONFIRM_PAUSE_S = 0.5


def _only_transient(active: Mapping[str, int]) -> bool:
    """Some counter is up and every counter that is up may be a passing request."""
    up = {name for name, count in active.items() if count > 0}
    return bool(up) and up <= TRANSIENT_COUNTERS


def _concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls in threads; results in order. Exceptions propagate from the first."""
    with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="openclaw") as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


class OpenClawAdapter:
    """AgentAdapter for one OpenClaw install, reached through `target`."""

    def __init__(
        self,
        target: OpenClawTarget,
        *,
        timeout: float,
        searched: Sequence[str] = (),
        base_env: Mapping[str, str] | None = None,
        confirm_pause: float = CONFIRM_PAUSE_S,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._confirm_pause = confirm_pause
        self._searched = tuple(searched)
        self._env = target.process_env(base_env)

    @classmethod
    def live(
        cls,
        settings: OpenClawSettings,
        env: Mapping[str, str] | None = None,
        *,
        exclude_roots: Sequence[Path] = (),
    ) -> OpenClawAdapter:
        """The adapter for the live install (raises AgentNotFound listing where it looked)."""
        environ = dict(os.environ if env is None else env)
        search = locate_binary(settings, environ, exclude_roots=exclude_roots)
        target = target_for(settings, environ, search)
        return cls(target, timeout=settings.command_timeout, searched=search.searched, base_env=environ)

    @property
    def name(self) -> str:
        return "openclaw"

    # --- running the CLI -----------------------------------------------------------------------

    def _cli_json(
        self,
        *args: str,
        ok_codes: frozenset[int] = frozenset({0}),
        timeout: float | None = None,
    ) -> _Json:
        """Run `openclaw <args>` and parse its JSON. Timeouts and silent failures become `problem`;
        protocol errors (unparseable output) and a missing program propagate."""
        self._require_binary()
        try:
            result, data = proc.run_json(
                self.target.argv(*args),
                timeout=timeout or self.timeout,
                what=_label(args),
                ok_codes=ok_codes,
                env=self._env,
            )
        except (OperationTimeout, CommandFailed) as exc:
            return _Json(problem=exc.message)
        return _Json(data=data, returncode=result.returncode, duration_s=result.duration_s)

    def _require_binary(self) -> None:
        if not self.target.binary.exists():
            looked = (*self._searched, str(self.target.binary))
            raise AgentNotFound(
                f"the OpenClaw binary {self.target.binary} does not exist (looked at: {'; '.join(looked)})",
                hint="reinstall OpenClaw, fix agent.openclaw.binary, or rerun discovery",
            )

    # --- paths and config ------------------------------------------------------------------------

    def _state_paths(self) -> StatePaths:
        paths = resolve_state_paths(self._env)
        return StatePaths(
            home=paths.home,
            state_dir=self.target.state_dir or paths.state_dir,
            config_path=self.target.config_path
            or (self.target.state_dir / "openclaw.json" if self.target.state_dir else paths.config_path),
            profile=self.target.profile or paths.profile,
            state_dir_source="target" if self.target.state_dir else paths.state_dir_source,
            config_path_source="target" if self.target.config_path else paths.config_path_source,
        )

    def _config(self) -> tuple[ConfigRead, GatewaySettings]:
        read = read_config(self._state_paths().config_path)
        env = dict(self._env)
        if self.target.profile and "OPENCLAW_PROFILE" not in env:
            env["OPENCLAW_PROFILE"] = self.target.profile
        return read, gateway_settings(read.data, env)

    def http_base(self) -> str:
        """Where the gateway's HTTP probes answer from here. Needs a readable config if the target
        does not say (raises OpenClawConfigUnreadable otherwise: the port would be a guess)."""
        if self.target.http_base:
            return self.target.http_base.rstrip("/")
        read, gateway = self._config()
        if read.problem is not None:
            raise read.problem.to_error()
        return gateway.local_http_base()

    # --- discover ----------------------------------------------------------------------------------

    def discover(self) -> Discovery:
        self._require_binary()
        notes: list[str] = []
        quick = min(self.timeout, 30.0)

        def version() -> proc.CommandResult | str:
            try:
                return proc.run(self.target.argv("--version"), timeout=quick, env=self._env)
            except (OperationTimeout, CommandFailed) as exc:
                return exc.message

        def update_status() -> _Json:
            return self._cli_json(
                *UPDATE_STATUS_ARGS, timeout=min(self.timeout, UPDATE_STATUS_CALL_TIMEOUT_S)
            )

        def node() -> NodeRuntime | None:
            return install.node_runtime(self.target.binary, self._env, timeout=quick)

        def npm_root() -> Path | None:
            if self.target.isolation != "none":
                return None  # a lab target's npm prefix is not the machine's
            prefix, _note = npm_global_prefix(self._env, timeout=quick)
            return prefix / "lib" / "node_modules" if prefix is not None else None

        version_result, update_result, node_runtime, npm_global_root = _concurrently(
            version, update_status, node, npm_root
        )

        cli_version: str | None = None
        build: dict[str, Any] | None = None
        if isinstance(version_result, str):
            notes.append(f"`openclaw --version` failed: {version_result}")
        elif not version_result.ok:
            notes.append(
                f"`openclaw --version` exited {version_result.returncode}: {version_result.stderr_tail()}"
            )
        else:
            parsed = parse_cli_version(version_result.stdout)
            if parsed is None:
                notes.append(
                    f"`openclaw --version` printed an unknown format: {version_result.stdout.strip()[:80]!r}"
                )
            else:
                cli_version = parsed.version

        root = install.resolve_package_root(self.target.binary)
        if root is None:
            notes.append(f"could not find the openclaw package behind {self.target.binary}")
        else:
            build = install.read_build(root)
            package_version = build.get("version") if build else None
            if cli_version and package_version and cli_version != package_version:
                notes.append(f"CLI reports {cli_version} but {root}/package.json says {package_version}")

        paths = self._state_paths()
        guess = install.classify_install(
            root,
            env=self._env,
            home=os_home(self._env),
            npm_global_root=npm_global_root,
            in_container=self.target.isolation == "none" and install.in_container(),
        )
        kind = guess.kind
        if update_result.problem is not None:
            notes.append(f"`openclaw update status` gave no answer: {update_result.problem}")
        elif (message := outputs.failure_message(update_result.data)) is not None:
            notes.append(f"`openclaw update status` failed: {message}")
        else:
            status = outputs.parse_update_status(update_result.data, source=_label(UPDATE_STATUS_ARGS))
            reported = install.kind_from_update_status(status.install_kind, status.package_manager)
            if kind is InstallKind.UNKNOWN and reported is not None:
                kind = reported
            elif reported is not None and reported is not kind and kind is not InstallKind.LOCAL_PREFIX:
                notes.append(
                    f"install kind from the package location is {kind.value} ({guess.reason}); "
                    f"`openclaw update status` says {reported.value}"
                )

        read, gateway = self._config()
        endpoint = GatewayEndpoint(url=self.target.http_base)
        if read.problem is not None:
            notes.append(f"OpenClaw config is unreadable: {read.problem.describe()}")
        else:
            if not read.exists:
                notes.append(f"no OpenClaw config at {read.path}; gateway settings are OpenClaw's defaults")
            endpoint = GatewayEndpoint(
                port=gateway.port,
                bind=gateway.bind,
                auth_mode=gateway.auth_mode,
                url=self.target.http_base or gateway.local_http_base(),
            )
            writer = last_touched_version(read.data)
            if writer and cli_version and writer != cli_version:
                notes.append(f"config was last written by OpenClaw {writer}; this CLI is {cli_version}")

        service: ServiceUnit | None = None
        if self.target.isolation == "none":
            service = install.find_service_unit(
                home=os_home(self._env), profile=paths.profile, env=self._env, timeout=quick
            )

        return Discovery(
            agent="openclaw",
            target=self.target.label,
            binary=self.target.binary,
            package_root=root,
            install_kind=kind,
            cli_version=cli_version,
            build=build,
            state_dir=paths.state_dir,
            config_path=paths.config_path,
            profile=paths.profile,
            gateway=endpoint,
            service=service,
            node=node_runtime,
            searched=self._searched,
            notes=tuple(notes),
        )

    # --- health --------------------------------------------------------------------------------------

    def _probe(self, base: str, path: str) -> _Probe:
        """GET one probe endpoint. Transport failures and non-JSON answers are values, not errors."""
        url = f"{base}{path}"
        response = http.get(url, timeout=HTTP_TIMEOUT_S)
        if isinstance(response, http.HttpFailure):
            return _Probe(
                EndpointCheck(url=url, status=None, ok=False, latency_ms=None, error=response.reason)
            )
        body = response.json_or_none()
        latency = round(response.elapsed_s * 1000, 1)
        if not isinstance(body, dict):
            # the Control UI answers unknown paths with HTML: that is not a health signal
            error = "answered with something other than a JSON probe document"
            return _Probe(
                EndpointCheck(url=url, status=response.status, ok=False, latency_ms=latency, error=error)
            )
        ok = response.status == 200
        return _Probe(
            EndpointCheck(url=url, status=response.status, ok=ok, latency_ms=latency, body=body), body
        )

    def health(self) -> Health:
        base = self.http_base()
        down_ok = frozenset({0, 1})  # both commands exit 1 with a JSON report when the gateway is down
        healthz, readyz, startupz, rpc_health, status = _concurrently(
            lambda: self._probe(base, "/healthz"),
            lambda: self._probe(base, "/readyz"),
            lambda: self._probe(base, "/startupz"),
            lambda: self._cli_json(*HEALTH_ARGS, ok_codes=down_ok),
            lambda: self._cli_json(*GATEWAY_STATUS_ARGS, ok_codes=down_ok),
        )
        live = (
            healthz.body is not None
            and healthz.check.status == 200
            and outputs.parse_healthz(healthz.body, source=f"GET {healthz.check.url}")
        )
        ready = False
        failing: tuple[str, ...] = ()
        if readyz.body is not None:
            readiness = outputs.parse_readyz(readyz.body, source=f"GET {readyz.check.url}")
            ready, failing = readiness.ready and readyz.check.status == 200, readiness.failing
        started: bool | None = None
        startup_version: str | None = None
        if startupz.body is not None:
            startup = outputs.parse_startupz(startupz.body, source=f"GET {startupz.check.url}")
            started, startup_version = startup.started, startup.version

        errors: list[str] = []
        if not live and healthz.check.error:
            errors.append(f"{healthz.check.url}: {healthz.check.error}")
        rpc_summary: dict[str, Any] | None = None
        if rpc_health.problem is not None:
            errors.append(f"openclaw health: {rpc_health.problem}")
        else:
            parsed = outputs.parse_health(rpc_health.data, source=_label(HEALTH_ARGS))
            if parsed.ok:
                rpc_summary = parsed.summary
            else:
                errors.append(f"openclaw health: {parsed.error}")
        if not live and rpc_summary is not None:
            errors.insert(
                0, f"the gateway answers RPC but not HTTP at {base}; is that URL reachable from here?"
            )

        running_version: str | None = None
        if status.problem is not None:
            errors.append(f"openclaw gateway status: {status.problem}")
        else:
            gateway = outputs.parse_gateway_status(status.data, source=_label(GATEWAY_STATUS_ARGS))
            running_version = gateway.running_version
            if not gateway.rpc_ok and gateway.rpc_error:
                errors.append(f"openclaw gateway status: {gateway.rpc_error}")
        return Health(
            live=live,
            ready=ready,
            started=started,
            failing=failing,
            # a gateway still starting tells its version on /startupz before its RPC answers
            running_version=running_version or startup_version,
            checks=(healthz.check, readyz.check, startupz.check),
            rpc=rpc_summary,
            error="; ".join(errors) if errors else None,
        )

    # --- busy ----------------------------------------------------------------------------------------

    def busy(self) -> BusyState:
        down_ok = frozenset({0, 1})  # gateway RPCs exit 1 with a JSON failure report when it is down
        status, tasks, cron = _concurrently(
            lambda: self._cli_json(*STATUS_RPC_ARGS, ok_codes=down_ok),
            lambda: self._cli_json(*TASKS_ARGS),
            lambda: self._cli_json(*CRON_ARGS, ok_codes=down_ok),
        )
        problems: list[str] = []
        running_tasks: int | None = None
        if tasks.problem is not None:
            problems.append(f"tasks list: {tasks.problem}")
        elif (message := outputs.failure_message(tasks.data)) is not None:
            problems.append(f"tasks list: {message}")
        else:
            running_tasks = outputs.parse_tasks(tasks.data, source=_label(TASKS_ARGS)).count

        running_cron: int | None = None
        if cron.problem is not None:
            problems.append(f"cron list: {cron.problem}")
        elif (message := outputs.failure_message(cron.data)) is not None:
            problems.append(f"cron list: {message}")
        else:
            cron_list = outputs.parse_cron_list(cron.data, source=_label(CRON_ARGS))
            running_cron = len(cron_list.running)
            if not cron_list.complete:
                problems.append(f"cron list has more pages ({cron_list.total} jobs); only the first was read")

        sources = ["openclaw tasks list", "openclaw cron list"]
        if status.problem is not None or (message := outputs.failure_message(status.data)) is not None:
            reason = status.problem or message
            return BusyState(
                busy=None,
                running_tasks=running_tasks,
                running_cron_jobs=running_cron,
                source="openclaw gateway call status (unreachable)",
                error="; ".join([f"gateway status RPC: {reason}", *problems]),
            )
        work = outputs.parse_status_rpc(status.data, source=_label(STATUS_RPC_ARGS))
        sources.insert(0, f"openclaw gateway call status ({work.source})")
        active, samples = work.active, 1
        if not running_tasks and not running_cron:
            active, samples = self._confirm_transient(active)
        busy = any(count > 0 for count in active.values()) or bool(running_tasks) or bool(running_cron)
        return BusyState(
            busy=busy,
            active=active,
            running_tasks=running_tasks,
            running_cron_jobs=running_cron,
            source=" + ".join(sources),
            error="; ".join(problems) if problems else None,
            samples=samples,
        )

    def _confirm_transient(self, active: dict[str, int]) -> tuple[dict[str, int], int]:
        """Sample the status RPC again, alone, while only transient counters are up (see
        TRANSIENT_COUNTERS). Returns the last counters and how many samples were taken."""
        samples = 1
        while samples <= CONFIRM_SAMPLES and _only_transient(active):
            time.sleep(self._confirm_pause)
            status = self._cli_json(*STATUS_RPC_ARGS, ok_codes=frozenset({0, 1}))
            if status.problem is not None or outputs.failure_message(status.data) is not None:
                break  # the gateway went away between samples: keep what the first sample saw
            active = outputs.parse_status_rpc(status.data, source=_label(STATUS_RPC_ARGS)).active
            samples += 1
        return active, samples

    # --- gates -----------------------------------------------------------------------------------------

    def gates(self) -> list[GateResult]:
        doctor, validate = _concurrently(
            # doctor --lint: 0 clean, 1 findings, 2 it could not run; validate: 1 means invalid
            lambda: self._cli_json(*DOCTOR_ARGS, ok_codes=frozenset({0, 1, 2})),
            lambda: self._cli_json(*VALIDATE_ARGS, ok_codes=frozenset({0, 1})),
        )
        return [self._doctor_gate(doctor), self._config_gate(validate)]

    def _doctor_gate(self, call: _Json) -> GateResult:
        name = "openclaw doctor --lint"
        if call.problem is not None:
            return GateResult(name, Outcome.inconclusive(call.problem))
        lint = outputs.parse_doctor_lint(call.data, source=_label(DOCTOR_ARGS))
        if lint.error is not None or call.returncode == 2:
            return GateResult(
                name,
                Outcome.inconclusive(f"doctor could not run its checks: {lint.error or 'exit status 2'}"),
                lint.findings,
                call.duration_s,
            )
        blocking = [f for f in lint.findings if f.severity in BLOCKING_SEVERITIES]
        warnings = [f for f in lint.findings if f.severity not in BLOCKING_SEVERITIES]
        if blocking:
            first = blocking[0]
            outcome = Outcome.failed(
                f"{len(blocking)} error finding(s), first: {first.check_id}: {first.message.splitlines()[0]}"
            )
        elif warnings:
            # doctor exits 1 on any warning; warnings alone do not block (a loopback bind is one)
            outcome = Outcome.passed(f"no errors; {len(warnings)} warning(s)")
        else:
            outcome = Outcome.passed("no findings")
        return GateResult(name, outcome, lint.findings, call.duration_s)

    def _config_gate(self, call: _Json) -> GateResult:
        name = "openclaw config validate"
        read, _gateway = self._config()
        local: list[Finding] = []
        if read.problem is not None:
            # our own parse pins the line and column for the user, whatever OpenClaw says
            local.append(
                Finding(
                    check_id="clawkeeper/config-syntax",
                    severity="error",
                    message=read.problem.message,
                    path=f"{read.problem.path}:{read.problem.line}:{read.problem.column}"
                    if read.problem.line is not None
                    else str(read.problem.path),
                    fix_hint="fix the syntax at that position, or restore openclaw.json.bak / .last-good",
                )
            )
        if call.problem is not None:
            if read.problem is not None:
                return GateResult(
                    name, Outcome.failed(f"not valid JSON5: {read.problem.describe()}"), tuple(local)
                )
            return GateResult(name, Outcome.inconclusive(call.problem))
        result = outputs.parse_config_validate(call.data, source=_label(VALIDATE_ARGS))
        findings = [
            *local,
            *(
                Finding(check_id="openclaw/config-validate", severity="error", message=i.message, path=i.path)
                for i in result.issues
            ),
            *(
                Finding(
                    check_id="openclaw/config-validate", severity="warning", message=w.message, path=w.path
                )
                for w in result.warnings
            ),
        ]
        if result.valid and not local:
            reason = f"valid ({result.path})" if result.path else "valid"
            if result.warnings:
                reason += f"; {len(result.warnings)} warning(s)"
            return GateResult(name, Outcome.passed(reason), tuple(findings), call.duration_s)
        if read.problem is not None:
            reason = f"not valid JSON5: {read.problem.describe()}"
        elif result.issues:
            first = result.issues[0]
            reason = f"{len(result.issues)} issue(s), first: {first.path or '<root>'}: {first.message}"
        else:
            reason = "OpenClaw reports the config invalid"
        return GateResult(name, Outcome.failed(reason), tuple(findings), call.duration_s)
