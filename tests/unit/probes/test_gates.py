"""OpenClaw's own gates and inventories as probes, against the fake CLI."""

from __future__ import annotations

from clawkeeper.outcomes import Verdict
from clawkeeper.probes.baseline import Baseline, StaticBaselines
from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.runner import run_probe
from clawkeeper.probes.spec import ProbeSpec
from tests.unit.probes.conftest import FakeOpenClaw


def probe(fake: FakeOpenClaw, kind: str, name: str = "p", **params: object) -> tuple[Verdict, str]:
    report = run_probe(ProbeSpec(name=name, kind=kind, params=params), ProbeEnv(target=fake.target))
    return report.verdict, report.reason


def test_doctor_lint_respects_the_severity_floor(fake_openclaw: FakeOpenClaw) -> None:
    fake_openclaw.set(
        doctor_findings=[
            {
                "checkId": "core/doctor/gateway-config",
                "severity": "warning",
                "message": "bound to loopback only",
            }
        ]
    )
    assert probe(fake_openclaw, "openclaw.doctor-lint")[0] is Verdict.PASSED
    verdict, reason = probe(fake_openclaw, "openclaw.doctor-lint", severity_min="warning")
    assert verdict is Verdict.FAILED
    assert "core/doctor/gateway-config: bound to loopback only" in reason


def test_an_invalid_config_names_the_path(fake_openclaw: FakeOpenClaw) -> None:
    fake_openclaw.set(config_issues=[{"path": "gateway.port", "message": "Expected number"}])
    verdict, reason = probe(fake_openclaw, "openclaw.config-validate")
    assert (
        verdict is Verdict.FAILED and reason == "the agent's config is invalid: gateway.port: Expected number"
    )


def test_security_audit_fails_on_new_critical_findings_only(fake_openclaw: FakeOpenClaw) -> None:
    fake_openclaw.set(
        security_findings=[
            {
                "checkId": "fs.state_dir.perms_world_writable",
                "severity": "critical",
                "title": "State dir is world-writable",
            },
            {"checkId": "gateway.trusted_proxies_missing", "severity": "warn", "title": "proxy"},
        ]
    )
    verdict, reason = probe(fake_openclaw, "openclaw.security-audit")
    assert (
        verdict is Verdict.FAILED
        and "fs.state_dir.perms_world_writable (State dir is world-writable)" in reason
    )
    accepted = ProbeEnv(
        target=fake_openclaw.target,
        baselines=StaticBaselines(
            {"security": Baseline(memo={"critical": ["fs.state_dir.perms_world_writable"]}, source="run 3")}
        ),
    )
    report = run_probe(ProbeSpec(name="security", kind="openclaw.security-audit"), accepted)
    assert report.verdict is Verdict.PASSED and "0 new vs the baseline (run 3)" in report.reason
    assert report.memo == {"critical": ["fs.state_dir.perms_world_writable"]}


def test_plugins_broken_or_missing(fake_openclaw: FakeOpenClaw) -> None:
    fake_openclaw.set(
        plugins=[
            {"id": "memory-core", "enabled": True, "status": "loaded"},
            {"id": "telegram", "enabled": True, "status": "error"},
            {"id": "matrix", "enabled": False, "status": "disabled"},
        ]
    )
    verdict, reason = probe(fake_openclaw, "openclaw.plugins", require=["matrix", "signal"])
    assert verdict is Verdict.FAILED
    assert reason == (
        "plugin telegram is enabled but error; required plugin signal is not installed; "
        "required plugin matrix is disabled, not loaded"
    )


def test_channels_skip_when_none_and_fail_on_issues(fake_openclaw: FakeOpenClaw) -> None:
    assert probe(fake_openclaw, "openclaw.channels")[0] is Verdict.SKIPPED
    fake_openclaw.set(channels={"telegram": {}}, channel_issues=[{"message": "telegram: bot token rejected"}])
    verdict, reason = probe(fake_openclaw, "openclaw.channels")
    assert verdict is Verdict.FAILED and "telegram: bot token rejected" in reason


def test_version_mismatch_after_an_update_without_restart(fake_openclaw: FakeOpenClaw) -> None:
    assert probe(fake_openclaw, "openclaw.version")[0] is Verdict.PASSED
    fake_openclaw.set(running_version="2026.8.2")
    verdict, reason = probe(fake_openclaw, "openclaw.version")
    assert verdict is Verdict.FAILED
    assert reason.startswith("the gateway runs 2026.8.2 but the installed CLI is 2026.9.6")


def test_gateway_rpc_returns_the_answer_for_conditions(fake_openclaw: FakeOpenClaw) -> None:
    from clawkeeper.probes.conditions import parse_condition

    spec = ProbeSpec(
        name="rpc",
        kind="gateway-rpc",
        params={"method": "status"},
        success=parse_condition("result.response.runtimeVersion == '2026.9.6'"),
    )
    assert run_probe(spec, ProbeEnv(target=fake_openclaw.target)).verdict is Verdict.PASSED
    verdict, reason = probe(fake_openclaw, "gateway-rpc", method="no.such.method")
    assert verdict is Verdict.FAILED and "unknown method no.such.method" in reason


def test_databases_name_the_damaged_file(fake_openclaw: FakeOpenClaw) -> None:
    import sqlite3

    agent_db = fake_openclaw.home / ".openclaw" / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    agent_db.parent.mkdir(parents=True)
    state_db = fake_openclaw.home / ".openclaw" / "state" / "openclaw.sqlite"
    state_db.parent.mkdir(parents=True)
    for path in (agent_db, state_db):
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (x)")
    assert probe(fake_openclaw, "openclaw.databases")[0] is Verdict.PASSED
    agent_db.write_bytes(b"this is not a database" * 100)
    verdict, reason = probe(fake_openclaw, "openclaw.databases")
    assert verdict is Verdict.FAILED
    assert reason.startswith(
        "damaged database(s): agents/main/agent/openclaw-agent.sqlite: file is not a database"
    )
