"""OpenClaw's own read-only gates as probes.

* `openclaw.doctor-lint`: `doctor --lint --json --severity-min <floor>`; exit 1 means findings at or
  above the floor, exit 2 that doctor itself failed (an error, not a finding).
* `openclaw.config-validate`: `config validate --json`.
* `openclaw.security-audit`: `security audit --json`; fails on a *new* critical finding compared
  with the baseline (the critical check ids of the last passing run), so a known, accepted finding
  does not block every verification but a fresh one does.
* `openclaw.post-upgrade`: `doctor --post-upgrade --json` (plugin compatibility after an update).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from clawkeeper.errors import AgentProtocolError, OperationTimeout
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import (
    KindInfo,
    KindParams,
    Measurement,
    MeasurementError,
    Requirement,
    as_list,
    excerpt,
)
from clawkeeper.probes.kinds.rpc import error_message

CLI_ONLY = frozenset({Requirement.CLI})


def run_json(env: ProbeEnv, args: tuple[str, ...], timeout_s: float, what: str) -> tuple[int, Any, str]:
    try:
        result, document = env.openclaw_json(*args, timeout=timeout_s, what=what)
    except OperationTimeout as exc:
        raise MeasurementError(f"`openclaw {what}` did not finish within {timeout_s:g}s") from exc
    except AgentProtocolError as exc:
        raise MeasurementError(exc.message) from exc
    return result.returncode, document, result.stderr_tail()


def _findings(document: Any) -> list[dict[str, Any]]:
    findings = document.get("findings") if isinstance(document, dict) else None
    return [f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else []


def _describe(findings: list[dict[str, Any]], limit: int = 3) -> str:
    parts = [
        f"{f.get('checkId', '?')}: {excerpt(str(f.get('message') or f.get('title') or ''), 90)}"
        for f in findings[:limit]
    ]
    more = len(findings) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class DoctorLintParams(KindParams):
    severity_min: Literal["info", "warning", "error"] = "error"


@dataclass(frozen=True)
class DoctorLintProbe:
    params: DoctorLintParams
    requires: frozenset[Requirement] = CLI_ONLY

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        floor = self.params.severity_min
        code, document, stderr = run_json(
            env, ("doctor", "--lint", "--json", "--severity-min", floor), timeout_s, "doctor --lint"
        )
        if code not in (0, 1) or not isinstance(document, dict):
            reason = error_message(document) or stderr or f"exit {code}"
            raise MeasurementError(f"doctor --lint could not run: {excerpt(reason, 200)}")
        findings = _findings(document)
        counts = dict(Counter(str(f.get("severity", "unknown")) for f in findings))
        ok = code == 0
        checks = document.get("checksRun")
        problem = None
        if not ok:
            problem = (
                f"doctor reports {len(findings)} finding(s) at or above '{floor}': {_describe(findings)}"
            )
        return Measurement(
            result={"ok": ok, "findings": findings, "counts": counts, "checks_run": checks},
            evidence=f"doctor --lint (≥{floor}): {len(findings)} finding(s), {checks} checks",
            problem=problem,
        )


class ConfigValidateParams(KindParams):
    pass


@dataclass(frozen=True)
class ConfigValidateProbe:
    params: ConfigValidateParams
    requires: frozenset[Requirement] = CLI_ONLY

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        code, document, stderr = run_json(env, ("config", "validate", "--json"), timeout_s, "config validate")
        if not isinstance(document, dict) or "valid" not in document:
            raise MeasurementError(
                f"config validate gave no verdict: {excerpt(stderr or f'exit {code}', 200)}"
            )
        valid = document.get("valid") is True and code == 0
        issues = as_list(document.get("issues"))
        warnings = as_list(document.get("warnings"))
        described = "; ".join(
            f"{i.get('path', '?')}: {excerpt(str(i.get('message', '')), 100)}"
            for i in issues[:3]
            if isinstance(i, dict)
        ) or excerpt(error_message(document) or "", 200)
        return Measurement(
            result={
                "ok": valid,
                "valid": valid,
                "issues": issues,
                "warnings": warnings,
                "path": document.get("path"),
            },
            evidence=f"config validate: {'valid' if valid else 'invalid'}, {len(warnings)} warning(s)",
            problem=None if valid else f"the agent's config is invalid: {described}",
        )


class SecurityAuditParams(KindParams):
    deep: bool = False


@dataclass(frozen=True)
class SecurityAuditProbe:
    params: SecurityAuditParams
    requires: frozenset[Requirement] = CLI_ONLY

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        args = ("security", "audit", "--json", *(("--deep",) if self.params.deep else ()))
        code, document, stderr = run_json(env, args, timeout_s, "security audit")
        if not isinstance(document, dict) or "findings" not in document:
            raise MeasurementError(f"security audit gave no report: {excerpt(stderr or f'exit {code}', 200)}")
        findings = _findings(document)
        critical = sorted({str(f.get("checkId")) for f in findings if f.get("severity") == "critical"})
        baseline = env.baseline()
        known = set(baseline.memo.get("critical", [])) if baseline is not None else set()
        new = [c for c in critical if c not in known]
        titles = {str(f.get("checkId")): str(f.get("title") or "") for f in findings}
        against = f"the baseline ({baseline.source})" if baseline is not None else "no baseline yet"
        problem = None
        if new:
            described = "; ".join(f"{c} ({excerpt(titles.get(c, ''), 80)})" for c in new)
            problem = f"new critical security finding(s): {described}"
        return Measurement(
            result={
                "ok": not new,
                "critical": critical,
                "new_critical": new,
                "summary": document.get("summary"),
                "baseline_critical": sorted(known),
            },
            evidence=f"security audit: {len(critical)} critical finding(s), {len(new)} new vs {against}",
            problem=problem,
            memo={"critical": critical},
        )


class PostUpgradeParams(KindParams):
    pass


@dataclass(frozen=True)
class PostUpgradeProbe:
    params: PostUpgradeParams
    requires: frozenset[Requirement] = CLI_ONLY

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        code, document, stderr = run_json(
            env, ("doctor", "--post-upgrade", "--json"), timeout_s, "doctor --post-upgrade"
        )
        if not isinstance(document, dict):
            raise MeasurementError(
                f"doctor --post-upgrade gave no report: {excerpt(stderr or f'exit {code}', 200)}"
            )
        findings = _findings(document)
        errors = [f for f in findings if f.get("severity") in ("error", "critical")]
        ok = code == 0 and not errors
        problem = None
        if not ok:
            described = _describe(errors or findings) or f"exit {code}"
            problem = f"plugin compatibility problems after the upgrade: {described}"
        return Measurement(
            result={"ok": ok, "findings": findings, "probes_run": document.get("probesRun")},
            evidence=f"doctor --post-upgrade: {len(findings)} finding(s)",
            problem=problem,
        )


KINDS = (
    KindInfo(
        "openclaw.doctor-lint",
        "`openclaw doctor --lint` with a severity floor",
        DoctorLintParams,
        DoctorLintProbe,
    ),
    KindInfo(
        "openclaw.config-validate", "`openclaw config validate`", ConfigValidateParams, ConfigValidateProbe
    ),
    KindInfo(
        "openclaw.security-audit",
        "`openclaw security audit`: no new critical finding vs the baseline",
        SecurityAuditParams,
        SecurityAuditProbe,
    ),
    KindInfo(
        "openclaw.post-upgrade",
        "`openclaw doctor --post-upgrade` plugin compatibility probes",
        PostUpgradeParams,
        PostUpgradeProbe,
    ),
)
