"""Subprocesses: argument lists only, always a timeout, output captured, JSON parsed carefully.

`run` never uses a shell. On timeout the whole process group is terminated (then killed), so a
hung `openclaw` and its Node workers never outlive the call. `run_json` turns output that is not
the JSON we expect into `AgentProtocolError` with a short excerpt, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clawkeeper.errors import AgentProtocolError, CommandFailed, EnvironmentProblem, OperationTimeout

SECRET_FLAGS = frozenset(
    {"--token", "--password", "--passphrase", "--api-key", "--secret", "--key"}
    | {"--gateway-token", "--gateway-password"}  # `openclaw onboard`
)
SECRET_WORDS = ("token", "password", "passphrase", "secret", "apikey", "api_key", "api-key")


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A copy of argv safe to store or print: values of secret-looking options become `***`."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if arg in SECRET_FLAGS:
            out.append(arg)
            hide_next = True
            continue
        if "=" in arg:
            key, _, _value = arg.partition("=")
            if any(word in key.lower() for word in SECRET_WORDS):
                out.append(f"{key}=***")
                continue
        out.append(arg)
    return out


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        return " ".join(redact_argv(self.argv))

    def stderr_tail(self, limit: int = 240) -> str:
        text = (self.stderr or self.stdout).strip().replace("\n", " | ")
        return text[-limit:]


@dataclass
class ProcessSpec:
    """What to run and how; shared by `run` and `spawn`."""

    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def full_env(self) -> dict[str, str]:
        base = dict(os.environ if self.env is None else self.env)
        base.update(self.extra_env)
        return base


def _kill_group(proc: subprocess.Popen[Any], grace_s: float = 3.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    check: bool = False,
) -> CommandResult:
    """Run argv to completion and capture its output.

    Raises EnvironmentProblem when the program does not exist, OperationTimeout when it runs past
    `timeout` (its process group is killed), and CommandFailed when `check` and it exits non-zero.
    """
    if not argv:
        raise ValueError("empty argv")
    spec = ProcessSpec(argv=argv, env=env, cwd=cwd, extra_env=extra_env or {})
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=spec.full_env(),
            cwd=cwd,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise EnvironmentProblem(
            f"program not found: {argv[0]}", hint="install it or fix the configured path"
        ) from exc
    except PermissionError as exc:
        raise EnvironmentProblem(f"program not executable: {argv[0]}", hint="check its permissions") from exc
    try:
        stdout, stderr = proc.communicate(input=input_text, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise OperationTimeout(
            f"`{' '.join(redact_argv(argv))}` did not finish within {timeout:g}s",
            hint="raise the timeout in clawkeeper.toml or check why the command hangs",
        ) from exc
    except BaseException:
        _kill_group(proc)
        raise
    result = CommandResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=stdout or "",
        stderr=stderr or "",
        duration_s=time.monotonic() - started,
    )
    if check and not result.ok:
        raise CommandFailed(
            f"`{result.describe()}` exited {result.returncode}: {result.stderr_tail()}",
        )
    return result


def parse_json_output(text: str, *, what: str) -> Any:
    """Parse the JSON document a CLI printed, tolerating log lines before it.

    Some tools print warnings on stdout ahead of their JSON; we take the first line that starts
    a JSON object or array and parse from there to the end.
    """
    stripped = text.strip()
    if not stripped:
        raise AgentProtocolError(f"{what} printed nothing where JSON was expected")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    lines = stripped.splitlines()
    decoder = json.JSONDecoder()
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("{", "[")):
            candidate = "\n".join(lines[index:]).lstrip()
            try:
                value, _end = decoder.raw_decode(candidate)
            except json.JSONDecodeError:
                continue
            return value
    excerpt = stripped[:160].replace("\n", " | ")
    raise AgentProtocolError(
        f"{what} did not print JSON (got: {excerpt!r})",
        hint="this version's output may have changed; run it by hand and report the output",
    )


def run_json(
    argv: Sequence[str],
    *,
    timeout: float,
    what: str | None = None,
    ok_codes: frozenset[int] = frozenset({0}),
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[CommandResult, Any]:
    """Run argv and parse its stdout as JSON.

    A non-zero exit code outside `ok_codes` still parses output when there is some (many CLIs
    print a JSON error envelope); if there is none it raises CommandFailed.
    """
    label = what or " ".join(redact_argv(argv[:3]))
    result = run(argv, timeout=timeout, env=env, extra_env=extra_env, cwd=cwd)
    if result.returncode not in ok_codes and not result.stdout.strip():
        raise CommandFailed(f"{label} exited {result.returncode}: {result.stderr_tail()}")
    return result, parse_json_output(result.stdout, what=label)


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session, output appended to `log_path`.

    The caller records the PID (in the ledger or a state file) and owns stopping it.
    """
    spec = ProcessSpec(argv=argv, env=env, cwd=cwd, extra_env=extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes]
    with open(log_path, "ab") as log:  # noqa: PTH123 - the child inherits the descriptor
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=spec.full_env(),
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise EnvironmentProblem(f"program not found: {argv[0]}") from exc


def wait(
    proc: subprocess.Popen[Any],
    *,
    timeout: float,
    argv: Sequence[str] | None = None,
    on_tick: Callable[[float], None] | None = None,
    tick_s: float = 1.0,
) -> int:
    """Wait for a process started with `spawn`, calling `on_tick(elapsed_s)` about every `tick_s`.

    Long installs and migrations report progress this way. On timeout, or when the wait itself is
    interrupted (Ctrl-C, SIGTERM turned into an exception), the process group is terminated and
    killed before the exception propagates, so nothing outlives the call.
    """
    started = time.monotonic()
    shown = " ".join(redact_argv(argv)) if argv is not None else f"process {proc.pid}"
    try:
        while True:
            elapsed = time.monotonic() - started
            remaining = timeout - elapsed
            if remaining <= 0:
                _kill_group(proc)
                raise OperationTimeout(
                    f"`{shown}` did not finish within {timeout:g}s",
                    hint="raise the timeout in clawkeeper.toml or check why the command hangs",
                )
            try:
                return proc.wait(timeout=min(tick_s, remaining))
            except subprocess.TimeoutExpired:
                if on_tick is not None:
                    on_tick(time.monotonic() - started)
    except OperationTimeout:
        raise
    except BaseException:
        _kill_group(proc)
        raise


def stop(proc: subprocess.Popen[Any], *, grace_s: float = 3.0) -> int | None:
    """Stop a process started with `spawn`: SIGTERM its whole group, SIGKILL after `grace_s`, reap.

    Returns its exit status. Its group goes too, so a wrapper such as `nsenter` and the program it
    started both stop.
    """
    if proc.poll() is None:
        _kill_group(proc, grace_s)
    return proc.returncode


def pid_alive(pid: int) -> bool:
    """True when a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # the state letter follows the parenthesised command name
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state != "Z"


def terminate(pid: int, *, timeout: float = 10.0, kill_after: bool = True) -> bool:
    """SIGTERM `pid`, wait up to `timeout`, then SIGKILL if asked. True when it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return True
        time.sleep(0.1)
    if kill_after:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if not pid_alive(pid):
                _reap(pid)
                return True
            time.sleep(0.1)
    return not pid_alive(pid)


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
