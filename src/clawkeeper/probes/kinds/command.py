"""`command`: run a program (argument list, never a shell) and check its exit code and output.

With `inside_target = true` it runs where the agent runs (inside the lab's namespaces, with the
target's environment), which is how a user checks something only the agent's side can see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator

from clawkeeper.effects import proc
from clawkeeper.errors import EnvironmentProblem, OperationTimeout
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    excerpt,
)


class CommandParams(KindParams):
    argv: list[str] = Field(min_length=1, description="program and arguments (no shell)")
    expect_exit: int = 0
    expect_output: str | None = Field(default=None, description="regular expression searched in stdout")
    inside_target: bool = False
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("expect_output")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


@dataclass(frozen=True)
class CommandProbe:
    params: CommandParams

    @property
    def requires(self) -> frozenset[Requirement]:
        return frozenset({Requirement.CLI}) if self.params.inside_target else frozenset()

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        argv = list(self.params.argv)
        base_env = None
        if self.params.inside_target and env.target is not None:
            argv = [*env.target.exec_prefix, *argv]
            base_env = env.target.process_env()
        shown = " ".join(proc.redact_argv(self.params.argv))
        try:
            result = proc.run(argv, timeout=timeout_s, env=base_env, extra_env=self.params.env)
        except OperationTimeout as exc:
            raise MeasurementError(f"`{shown}` did not finish within {timeout_s:g}s") from exc
        except EnvironmentProblem as exc:
            return Measurement(
                result={
                    "exit_code": None,
                    "ok": False,
                    "stdout": "",
                    "stderr": exc.message,
                    "duration_ms": None,
                },
                evidence=f"`{shown}` could not start",
                problem=exc.message,
            )
        exit_ok = result.returncode == self.params.expect_exit
        pattern = self.params.expect_output
        output_ok = pattern is None or re.search(pattern, result.stdout) is not None
        problem = None
        if not exit_ok:
            problem = (
                f"`{shown}` exited {result.returncode} (expected {self.params.expect_exit}): "
                f"{excerpt(result.stderr_tail(), 160)}"
            )
        elif not output_ok:
            problem = f"`{shown}` printed no match for /{pattern}/: {excerpt(result.stdout, 120)!r}"
        duration_ms = round(result.duration_s * 1000, 1)
        return Measurement(
            result={
                "exit_code": result.returncode,
                "ok": exit_ok and output_ok,
                "stdout": result.stdout[-4000:],
                "stderr": result.stderr[-2000:],
                "duration_ms": duration_ms,
                "latency_ms": duration_ms,
            },
            evidence=f"`{shown}` exited {result.returncode} in {duration_ms:g} ms",
            problem=problem,
        )


KIND = KindInfo(
    name="command",
    summary="run a program: exit code and an output pattern",
    params=CommandParams,
    build=CommandProbe,
)
