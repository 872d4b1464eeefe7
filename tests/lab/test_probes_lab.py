"""Capability probes against real OpenClaw, driven by the probe model inside the lab's namespaces.

The regression suite passes on both versions — including an agent turn that really executes a
shell command through the probe model and a memory round-trip — and on an instance of its own,
breaking capabilities (deny the exec tool and disable cron, stop the gateway, corrupt an agent
database in a copy of the state) fails exactly the matching probes, each with a reason a user
understands.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.lab.conftest import LabInstance, LabPool

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.sandbox import Sandbox
from clawkeeper.config import Settings
from clawkeeper.effects import proc
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.data_quality import DataQualityCollector
from clawkeeper.monitor.model import CollectContext, Sample
from clawkeeper.outcomes import Verdict
from clawkeeper.probes.runner import SuiteReport
from clawkeeper.probes.settings import ProbeSettings
from clawkeeper.probes.suites import SuiteLibrary
from clawkeeper.probes.verification import VerifyRequest, verify

pytestmark = pytest.mark.lab

BREAK_VERSION = "2026.9.6"
AGENT_PROBES = ("agent-turn", "tool-call", "memory", "cron")
GATEWAY_PROBES = ("live", "ready", "version", *AGENT_PROBES)
OFFLINE_GATES = ("config", "doctor", "plugins", "security", "databases")


def run(
    target: OpenClawTarget,
    workdir: Path,
    suite: str = "regression",
    only: tuple[str, ...] = (),
    ready_wait: float = 60.0,
) -> SuiteReport:
    request = VerifyRequest(
        suite=SuiteLibrary().get(suite),
        target=target,
        target_label=target.label,
        sandbox=True,
        settings=ProbeSettings(workdir=workdir, ready_wait=ready_wait),
        only=only,
    )
    return verify(request)


def not_passed(report: SuiteReport) -> dict[str, str]:
    return {p.name: p.reason for p in report.probes if p.verdict not in (Verdict.PASSED, Verdict.SKIPPED)}


def patch_config(target: OpenClawTarget, patch: str) -> None:
    result = proc.run(
        target.argv("config", "patch", "--stdin"), timeout=120, env=target.process_env(), input_text=patch
    )
    assert result.returncode == 0, result.stderr_tail()


@pytest.fixture(scope="module")
def workdir_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """One probe work dir per instance for the module: the registration is kept between runs."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = tmp_path_factory.mktemp(f"probes-{name}")
        return made[name]

    return get


def _total(samples: list[Sample], name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    return sum(s.value for s in samples if s.name == name and (not labels or s.labels == wanted))


def test_regression_passes_with_a_real_tool_call_and_memory_round_trip(
    lab_instance: LabInstance, workdir_of: Callable[[str], Path]
) -> None:
    # the keeper's data-quality collector watches the same turns from the agent's transcripts
    link = AgentLink(Settings(lab=lab_instance.settings), lab_instance.target)
    quality = DataQualityCollector.for_agent(link)
    quality.collect(CollectContext(now=time.time(), interval_s=60))  # history before now isn't counted

    report = run(lab_instance.target, workdir_of(lab_instance.name))
    assert report.verdict is Verdict.PASSED, not_passed(report)
    assert report.probe("channels").verdict is Verdict.SKIPPED  # the lab configures no channel

    tool = report.probe("tool-call").measurements[0].result
    assert tool["tool_result_seen"] is True, tool
    assert "exec" in tool["tools"]
    assert tool["expected"] in tool["reply"]  # computed by a shell: CKT-42-<nonce>

    memory = report.probe("memory").measurements[0].result
    assert memory["store"]["status"] == "ok" and memory["recall"]["status"] == "ok"
    assert memory["recall"]["session"] != memory["store"]["session"]

    cron = report.probe("cron").measurements[0].result
    assert cron["fired"] is True and cron["status"] == "ok"
    assert report.probe("version").measurements[0].result["running"] == lab_instance.version

    seen = quality.collect(CollectContext(now=time.time(), interval_s=60))
    assert _total(seen, "data_messages_total", direction="in") >= 3  # agent turn, tool call, memory
    assert _total(seen, "data_messages_total", direction="out") >= 3
    assert _total(seen, "data_tool_calls_total") >= 1
    assert _total(seen, "data_replies_failed_total") == 0
    assert _total(seen, "data_records_missing_fields_total") == 0


@pytest.fixture(scope="module")
def breakable(lab_pool: LabPool) -> Iterator[Sandbox]:
    """A 2026.9.6 instance of our own: these tests break it, which the shared ones must not see."""
    with lab_pool.private(BREAK_VERSION, "probes", 18970) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def break_workdir(tmp_path_factory: pytest.TempPathFactory, breakable: Sandbox) -> Path:
    return tmp_path_factory.mktemp("probes-breakable")


@pytest.fixture(scope="module")
def exec_and_cron_broken(breakable: Sandbox, break_workdir: Path) -> SuiteReport:
    """The full suite with the exec tool denied and cron disabled at once, then both restored.

    The regression test shows the same suite passing on this version; here every probe but the
    two broken capabilities' must still pass, which also registers the probe agent (and its
    database) for the tests below.
    """
    target = breakable.target()
    patch_config(target, '{"tools": {"deny": ["exec"]}, "cron": {"enabled": false}}')
    try:
        return run(target, break_workdir)
    finally:
        patch_config(target, '{"tools": {"deny": null}, "cron": {"enabled": null}}')


def test_denying_exec_and_disabling_cron_fail_exactly_the_tool_call_and_cron_probes(
    exec_and_cron_broken: SuiteReport,
) -> None:
    failed = not_passed(exec_and_cron_broken)
    assert set(failed) == {"tool-call", "cron"}, failed
    assert failed["tool-call"].startswith("the exec tool is not available to the agent")
    assert "automations are disabled" in failed["cron"]
    assert exec_and_cron_broken.probe("agent-turn").verdict is Verdict.PASSED
    assert exec_and_cron_broken.probe("memory").verdict is Verdict.PASSED


def test_a_corrupt_agent_database_in_a_copy_fails_only_the_database_probe(
    breakable: Sandbox, break_workdir: Path, tmp_path: Path, exec_and_cron_broken: SuiteReport
) -> None:
    target = breakable.target()
    assert target.state_dir is not None
    copy = tmp_path / "state-copy"
    shutil.copytree(
        target.state_dir,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns("*.sock", "tmp"),
        ignore_dangling_symlinks=True,
    )
    agent_dbs = sorted(copy.glob("agents/clawkeeper-probe*/agent/openclaw-agent.sqlite"))
    assert agent_dbs, "the probe agent has a database after the first run"
    damaged = agent_dbs[0]
    damaged.write_bytes(b"clawkeeper lab test: this is not a SQLite database\n" * 64)
    for sidecar in (damaged.with_name(damaged.name + "-wal"), damaged.with_name(damaged.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    # the gateway probes talk to the real gateway, which the copy does not change: the gates that
    # read the state dir are the ones that see the damaged copy
    report = run(dataclasses.replace(target, state_dir=copy), break_workdir, only=OFFLINE_GATES)
    failed = not_passed(report)
    assert set(failed) == {"databases"}, failed
    relative = damaged.relative_to(copy)
    assert failed["databases"].startswith(f"damaged database(s): {relative}: file is not a database")
    assert {p.name for p in report.probes} == set(OFFLINE_GATES)


def test_restart_survival_on_a_real_gateway(breakable: Sandbox, break_workdir: Path) -> None:
    report = run(breakable.target(), break_workdir, suite="full", only=("restart-survival", "ready"))
    assert report.verdict is Verdict.PASSED, not_passed(report)
    result = report.probe("restart-survival").measurements[0].result
    assert result["history_kept"] is True and result["restart_s"] is not None


def test_a_stopped_gateway_fails_the_gateway_probes_and_not_the_offline_gates(
    breakable: Sandbox, break_workdir: Path
) -> None:
    target = breakable.target()
    state = breakable.state()
    assert state is not None
    gateway = state.processes["gateway"]
    assert proc.terminate(gateway.pid, timeout=60)
    # the last test on this instance (it is destroyed next): no need to bring the gateway back,
    # nor to wait the default minute for a gateway that is not restarting
    report = run(target, break_workdir, ready_wait=5.0)
    failed = not_passed(report)
    assert set(failed) == set(GATEWAY_PROBES), failed
    assert failed["ready"].startswith("nothing answered at") or "HTTP 5" in failed["ready"], failed["ready"]
    for name in AGENT_PROBES:
        assert "gateway is not reachable" in failed[name], failed[name]
    for name in OFFLINE_GATES:
        assert report.probe(name).verdict is Verdict.PASSED, report.probe(name).reason
