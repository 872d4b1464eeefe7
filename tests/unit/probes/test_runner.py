"""The runner's analysis on real probe kinds (commands and loopback HTTP), and the ledger round trip."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.ledger import Ledger
from clawkeeper.outcomes import Verdict
from clawkeeper.probes.baseline import Baseline, LedgerBaselines, StaticBaselines
from clawkeeper.probes.conditions import parse_condition
from clawkeeper.probes.env import AgentAccess, ProbeEnv
from clawkeeper.probes.record import record_report
from clawkeeper.probes.runner import run_probe, run_suite
from clawkeeper.probes.spec import Comparison, Limits, ProbeSpec
from clawkeeper.probes.suites import Suite
from tests.support.httpserver import Routes, serve

PY = sys.executable


def command(name: str, code: str, **kw: Any) -> ProbeSpec:
    return ProbeSpec(name=name, kind="command", params={"argv": [PY, "-c", code]}, **kw)


def env() -> ProbeEnv:
    return ProbeEnv(sleep=lambda _s: None)


def test_a_hanging_probe_is_cut_by_its_timeout_and_is_an_error_not_a_failure() -> None:
    started = time.monotonic()
    report = run_probe(command("hang", "import time; time.sleep(30)", timeout_s=0.5), env())
    assert time.monotonic() - started < 10
    assert report.verdict is Verdict.INCONCLUSIVE
    assert report.reason.startswith("could not measure:") and "did not finish within 0.5s" in report.reason
    assert report.tally.errors == 1 and report.tally.failed == 0


def test_exit_code_and_output_pattern() -> None:
    ok = run_probe(
        ProbeSpec(
            name="c",
            kind="command",
            params={"argv": [PY, "-c", "print('ready 42')"], "expect_output": r"ready \d+"},
        ),
        env(),
    )
    assert ok.verdict is Verdict.PASSED
    bad = run_probe(command("c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"), env())
    assert bad.verdict is Verdict.FAILED and "exited 3 (expected 0): boom" in bad.reason
    missing = run_probe(ProbeSpec(name="m", kind="command", params={"argv": ["/nonexistent/tool"]}), env())
    assert missing.verdict is Verdict.FAILED and "program not found" in missing.reason


def test_failure_limit_tolerates_a_flaky_measurement(tmp_path: Path) -> None:
    counter = tmp_path / "n"
    flaky = (
        f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text() if p.exists() else 0)+1; "
        "p.write_text(str(n)); sys.exit(1 if n == 2 else 0)"
    )
    tolerant = run_probe(command("f", flaky, limits=Limits(count=4, failure_limit=1)), env())
    assert tolerant.verdict is Verdict.PASSED and tolerant.tally.failed == 1 and tolerant.tally.taken == 4
    counter.unlink()
    strict = run_probe(command("f", flaky, limits=Limits(count=4)), env())
    assert strict.verdict is Verdict.FAILED and strict.tally.taken == 2  # stopped at the first failure


def test_user_conditions_replace_the_kind_default() -> None:
    spec = command("c", "print('degraded')", success=parse_condition("matches('healthy', result.stdout)"))
    report = run_probe(spec, env())
    assert report.verdict is Verdict.FAILED
    assert "matches('healthy', result.stdout)" in report.reason


def test_report_only_probes_are_shown_but_never_decide() -> None:
    suite = Suite(
        "s", "", (command("good", "pass"), command("noisy", "raise SystemExit(1)", report_only=True))
    )
    report = run_suite(suite, env(), target_label="t")
    assert report.verdict is Verdict.PASSED
    assert report.probe("noisy").verdict is Verdict.FAILED


def test_model_probes_without_the_probe_agent_are_inconclusive_with_the_reason() -> None:
    probe_env = env()
    probe_env.target = OpenClawTarget(label="live", binary=Path("/bin/false"))
    probe_env.agent_unavailable = "adding the probe agent to a live agent is opt-in"
    report = run_probe(ProbeSpec(name="turn", kind="agent.turn"), probe_env)
    assert report.verdict is Verdict.INCONCLUSIVE
    assert report.reason == "not run: adding the probe agent to a live agent is opt-in"


def test_probes_that_need_a_target_are_skipped_without_one() -> None:
    report = run_probe(ProbeSpec(name="cfg", kind="openclaw.config-validate"), env())
    assert report.verdict is Verdict.SKIPPED and "OpenClaw CLI" in report.reason


@pytest.fixture
def slow_then_fast() -> Iterator[tuple[str, dict[str, float]]]:
    delay = {"s": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay["s"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", delay
    finally:
        server.shutdown()
        server.server_close()


def test_http_timeout_is_an_error_and_refused_is_a_failure(
    slow_then_fast: tuple[str, dict[str, float]],
) -> None:
    base, delay = slow_then_fast
    delay["s"] = 2.0
    slow = run_probe(ProbeSpec(name="h", kind="http", params={"url": base + "/x"}, timeout_s=0.3), env())
    assert slow.verdict is Verdict.INCONCLUSIVE and "timed out" in slow.reason
    refused = run_probe(ProbeSpec(name="h", kind="http", params={"url": "http://127.0.0.1:9/x"}), env())
    assert refused.verdict is Verdict.FAILED and refused.reason.startswith(
        "nothing answered at http://127.0.0.1:9/x"
    )


def test_readiness_failing_reasons_are_quoted() -> None:
    routes = Routes()
    routes["/readyz"] = (503, {"ready": False, "failing": ["agent-database:main"]})
    with serve(routes) as base:
        report = run_probe(
            ProbeSpec(name="ready", kind="http", params={"path": "/readyz"}), ProbeEnv(http_base=base)
        )
    assert report.verdict is Verdict.FAILED
    assert "HTTP 503 (failing: agent-database:main)" in report.reason


def soak(base: str) -> ProbeSpec:
    return ProbeSpec(
        name="soak",
        kind="http",
        params={"url": base + "/turn"},
        limits=Limits(count=10),
        compare=Comparison(metric="latency_ms", min_samples=8, tolerance=0.5),
    )


def test_soak_latency_is_judged_against_the_baseline(slow_then_fast: tuple[str, dict[str, float]]) -> None:
    base, delay = slow_then_fast
    delay["s"] = 0.05  # large enough that scheduling noise is small next to it
    before = run_probe(soak(base), env())
    assert before.verdict is Verdict.PASSED and len(before.samples) == 10
    recorded = StaticBaselines({"soak": Baseline(samples=before.samples, memo=before.memo, source="run 1")})

    delay["s"] = 0.2  # the "update" made every turn four times slower
    probe_env = env()
    probe_env.baselines = recorded
    worse = run_probe(soak(base), probe_env)
    assert worse.verdict is Verdict.FAILED
    assert "worse than the baseline" in worse.reason and "Mann-Whitney" in worse.reason

    delay["s"] = 0.05
    probe_env.baselines = recorded
    same = run_probe(soak(base), probe_env)
    assert same.verdict is Verdict.PASSED, same.reason


def test_results_in_the_ledger_become_the_next_baseline(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    spec = ProbeSpec(
        name="cmd",
        kind="command",
        params={"argv": [PY, "-c", "pass"]},
        limits=Limits(count=3),
        compare=Comparison(min_samples=2),
    )
    report = run_suite(Suite("s", "", (spec,)), env(), target_label="lab:x")
    run_id = ledger.start_run("verify", {}, target="lab:x")
    record_report(ledger, run_id, report)
    ledger.finish_run(run_id, outcome="ok", exit_code=0)
    baseline = LedgerBaselines(ledger, "lab:x").get("cmd")
    assert baseline is not None and len(baseline.samples) == 3
    assert baseline.memo["attempts"] == {"failed": 0, "total": 3}
    assert LedgerBaselines(ledger, "live").get("cmd") is None  # baselines are per target
    assert LedgerBaselines(ledger, "lab:x", exclude_run=run_id).get("cmd") is None
    ledger.close()


def test_agent_access_reports_scripted_model() -> None:
    assert not AgentAccess("a", "openai/x", None).scripted
