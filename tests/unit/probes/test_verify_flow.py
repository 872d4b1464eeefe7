"""A whole verification against a fake OpenClaw that really runs turns through the probe model:
the regression suite passes, and breaking one capability fails exactly the matching probe."""

from __future__ import annotations

import json
from pathlib import Path

from clawkeeper.outcomes import Verdict
from clawkeeper.probes.runner import SuiteReport
from clawkeeper.probes.suites import SuiteLibrary
from clawkeeper.probes.verification import VerifyRequest, verify
from tests.unit.probes.conftest import FakeOpenClaw

AGENT_PROBES = ["agent-turn", "tool-call", "memory", "cron"]


def run(
    fake: FakeOpenClaw,
    tmp_path: Path,
    *,
    sandbox: bool = True,
    only: tuple[str, ...] = (),
    **settings: object,
) -> SuiteReport:
    request = VerifyRequest(
        suite=SuiteLibrary().get("regression"),
        target=fake.target,
        target_label=fake.target.label,
        sandbox=sandbox,
        settings=fake.settings(tmp_path, **settings),
        only=only,
        sleep=lambda _seconds: None,  # the fake answers at once; intervals need not pass
    )
    return verify(request)


def verdicts(report: SuiteReport) -> dict[str, Verdict]:
    return {p.name: p.verdict for p in report.probes}


def test_regression_passes_and_the_agent_really_ran_a_tool(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    report = run(fake_openclaw, tmp_path)
    assert report.verdict is Verdict.PASSED, [
        (p.name, p.reason) for p in report.probes if p.verdict != "passed"
    ]
    assert verdicts(report)["channels"] is Verdict.SKIPPED  # no channels configured
    tool = report.probe("tool-call").measurements[0].result
    assert tool["tool_result_seen"] and tool["expected"].startswith("CKT-42-")
    config = fake_openclaw.config()
    assert config["agents"]["entries"]["clawkeeper-probe"]["model"] == {
        "primary": "clawkeeper-probe/probe-1",
        "fallbacks": [],
    }
    assert config["agents"]["defaults"]["systemAgent"] == {
        "agentId": "main"
    }  # the sole owner stays the owner
    assert (
        config["models"]["providers"]["openai"]["apiKey"] == "${OPENAI_API_KEY}"
    )  # the user's model untouched


def test_a_second_run_writes_nothing_to_the_config(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    run(fake_openclaw, tmp_path, only=("agent-turn",))
    before = fake_openclaw.config_path.read_bytes()
    report = run(fake_openclaw, tmp_path, only=("agent-turn",))
    assert report.verdict is Verdict.PASSED
    assert fake_openclaw.config_path.read_bytes() == before
    assert not any("set up" in note for note in report.notes)


def test_denying_exec_fails_only_the_tool_call(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    config = fake_openclaw.config()
    config["tools"]["deny"] = ["exec"]
    fake_openclaw.write_config(config)
    report = run(fake_openclaw, tmp_path, only=tuple(AGENT_PROBES))
    assert verdicts(report) == {
        "agent-turn": Verdict.PASSED,
        "tool-call": Verdict.FAILED,
        "memory": Verdict.PASSED,
        "cron": Verdict.PASSED,
    }
    assert "the exec tool is not available to the agent" in report.probe("tool-call").reason


def test_disabled_cron_fails_only_the_cron_probe(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    config = fake_openclaw.config()
    config["cron"] = {"enabled": False}
    fake_openclaw.write_config(config)
    report = run(fake_openclaw, tmp_path, only=tuple(AGENT_PROBES))
    assert [name for name, v in verdicts(report).items() if v is not Verdict.PASSED] == ["cron"]
    assert "automations are disabled" in report.probe("cron").reason
    assert fake_openclaw.state()["cron"] == {}  # the probe's job was removed again


def test_broken_memory_fails_only_the_memory_probe(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    fake_openclaw.set(memory_broken=True)
    report = run(
        fake_openclaw,
        tmp_path,
        only=tuple(AGENT_PROBES),
    )
    assert [name for name, v in verdicts(report).items() if v is not Verdict.PASSED] == ["memory"]
    assert "did not find the anchor" in report.probe("memory").reason


def test_a_stopped_gateway_fails_the_gateway_probes_not_the_offline_gates(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    run(fake_openclaw, tmp_path, only=("agent-turn",))  # registered while it was up
    fake_openclaw.set(gateway_down=True)
    fake_openclaw.routes.clear()  # the health endpoints now answer 404 like a dead bridge would not...
    fake_openclaw.routes["/healthz"] = (503, {"ok": False})
    fake_openclaw.routes["/readyz"] = (503, {"ready": False, "failing": ["gateway"]})
    report = run(fake_openclaw, tmp_path, ready_wait=0.5)
    v = verdicts(report)
    assert v["live"] is Verdict.FAILED and v["ready"] is Verdict.FAILED
    assert v["version"] is Verdict.FAILED and "ECONNREFUSED" in report.probe("version").reason
    assert all(v[name] is Verdict.FAILED for name in AGENT_PROBES)
    assert v["config"] is Verdict.PASSED and v["doctor"] is Verdict.PASSED and v["security"] is Verdict.PASSED


def test_a_live_agent_without_consent_gets_inconclusive_model_probes(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    before = fake_openclaw.config_path.read_bytes()
    report = run(fake_openclaw, tmp_path, sandbox=False, only=("live", "agent-turn", "tool-call"))
    assert verdicts(report) == {
        "live": Verdict.PASSED,
        "agent-turn": Verdict.INCONCLUSIVE,
        "tool-call": Verdict.INCONCLUSIVE,
    }
    assert report.verdict is Verdict.INCONCLUSIVE
    assert "live_consent = true" in report.probe("agent-turn").reason
    assert fake_openclaw.config_path.read_bytes() == before  # nothing was added


def test_with_consent_a_live_agent_is_probed_and_can_be_restored(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    from clawkeeper.probes.env import ProbeEnv
    from clawkeeper.probes.provider import ProbeIds, ProbeRegistration
    from clawkeeper.probes.verification import remove_probe_agent, workdir_for

    original = fake_openclaw.config()
    report = run(fake_openclaw, tmp_path, sandbox=False, live_consent=True, only=("agent-turn",))
    assert report.verdict is Verdict.PASSED
    settings = fake_openclaw.settings(tmp_path)
    registration = ProbeRegistration(
        ProbeEnv(target=fake_openclaw.target), workdir_for(settings, "lab:fake"), ProbeIds()
    )
    notes = remove_probe_agent(registration)
    assert notes[0].startswith("probe agent removed")
    assert fake_openclaw.config() == original  # OpenClaw's own ownership pins were reverted too
    assert registration.ids.agent == "clawkeeper-probe-2"  # a deleted agent id is never reused


def test_the_model_log_records_what_the_agent_sent(fake_openclaw: FakeOpenClaw, tmp_path: Path) -> None:
    report = run(fake_openclaw, tmp_path, only=("tool-call",))
    log_note = next(n for n in report.notes if "requests logged to" in n)
    log = Path(log_note.rsplit("requests logged to ", 1)[1])
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith('{"ts"')]
    nonce = report.probe("tool-call").measurements[0].result["nonce"]
    mine = [r for r in records if r["nonce"] == nonce]
    assert [r["decision"]["kind"] for r in mine] == ["tool_call", "reply"]
    assert mine[1]["tool_results"][0].strip() == f"CKT-42-{nonce}"


def test_probes_that_need_no_model_leave_the_config_alone(
    fake_openclaw: FakeOpenClaw, tmp_path: Path
) -> None:
    before = fake_openclaw.config_path.read_bytes()
    report = run(fake_openclaw, tmp_path, only=("live", "config", "doctor"))
    assert report.verdict is Verdict.PASSED
    assert fake_openclaw.config_path.read_bytes() == before
    assert not report.notes  # no probe model was started, no agent registered
