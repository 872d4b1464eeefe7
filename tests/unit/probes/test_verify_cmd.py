"""`clawkeeper verify` end to end on the fake OpenClaw: output, exit codes by verdict, the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from clawkeeper.cli import main as cli_main
from clawkeeper.cli import verify_cmd
from clawkeeper.errors import ClawkeeperError, ExitCode
from clawkeeper.ledger import Ledger
from tests.unit.probes.conftest import FakeOpenClaw

QUICK = """
[suite]
name = "quick"
description = "one of each: gateway HTTP, an offline gate, an agent turn"

[[probe]]
name = "live"
kind = "http"
path = "/healthz"

[[probe]]
name = "config"
kind = "openclaw.config-validate"

[[probe]]
name = "turn"
kind = "agent.turn"
"""


def app() -> typer.Typer:
    # main.py registers `verify` the same way; the global options come from the real callback
    built = typer.Typer()
    built.callback()(cli_main.main)
    built.command("verify")(verify_cmd.verify)
    return built


def invoke(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        app()(args=args, prog_name="clawkeeper", standalone_mode=False)
        code = 0
    except ClawkeeperError as exc:
        code = int(exc.exit_code)
        print(exc.one_line(), file=__import__("sys").stderr)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def setup(tmp_path: Path, fake_openclaw: FakeOpenClaw, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    config = tmp_path / "clawkeeper.toml"
    config.write_text(f'[ledger]\npath = "{tmp_path / "ledger.sqlite"}"\n')
    suite = tmp_path / "quick.toml"
    suite.write_text(QUICK)
    sandbox = {"value": True}
    monkeypatch.setattr(
        verify_cmd, "_resolve", lambda _app, _choice: (fake_openclaw.target, sandbox["value"])
    )
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(config))
    return {"suite": suite, "ledger": tmp_path / "ledger.sqlite", "sandbox": sandbox}


def test_a_passing_suite_exits_0_and_records_every_probe(
    setup: dict[str, Any], fake_openclaw: FakeOpenClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = invoke(
        ["verify", "--suite-file", str(setup["suite"]), "--suite", "quick", "--json"], capsys
    )
    assert code == 0
    document = json.loads(out)
    assert document["kind"] == "verify" and document["verdict"] == "passed"
    assert [p["name"] for p in document["probes"]] == ["live", "config", "turn"]
    assert document["probes"][2]["measurements"][0]["result"]["reply"].startswith("CK-OK")
    with Ledger(setup["ledger"]) as ledger:
        run = ledger.get_run(document["run_id"])
    assert run.command == "verify" and run.target == "lab:fake" and run.outcome == "ok"
    steps = {s.name: s for s in run.steps}
    assert steps["probe:turn"].detail["verdict"] == "passed"
    assert "probe-agent.register" in steps  # the config change is a recorded step


def test_a_failed_probe_exits_1_with_the_reason(
    setup: dict[str, Any], fake_openclaw: FakeOpenClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_openclaw.set(config_issues=[{"path": "gateway.port", "message": "Expected number"}])
    code, out, err = invoke(["verify", "--suite-file", str(setup["suite"]), "--suite", "quick"], capsys)
    assert code == int(ExitCode.FAILED)
    assert "gateway.port: Expected number" in out
    assert "failed: config" in err


def test_an_inconclusive_suite_exits_20(
    setup: dict[str, Any], fake_openclaw: FakeOpenClaw, capsys: pytest.CaptureFixture[str]
) -> None:
    setup["sandbox"]["value"] = False  # a live agent, and no consent in clawkeeper.toml
    code, out, err = invoke(["verify", "--suite-file", str(setup["suite"]), "--suite", "quick"], capsys)
    assert code == int(ExitCode.INCONCLUSIVE)
    assert "live_consent" in out and "a human must decide" in err


def test_list_shows_builtin_and_user_suites(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = invoke(["verify", "--list", "--json", "--suite-file", str(setup["suite"])], capsys)
    assert code == 0
    document = json.loads(out)
    assert [s["name"] for s in document["suites"]] == ["smoke", "regression", "full", "quick"]
    assert {"http", "agent.tool-call", "openclaw.security-audit"} <= {k["name"] for k in document["kinds"]}


def test_a_bad_suite_file_is_a_config_error_with_file_and_line(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[suite]\nname = "bad"\n\n[[probe]]\nname = "x"\nkind = "htttp"\n')
    code, _out, err = invoke(["verify", "--suite-file", str(bad), "--list"], capsys)
    assert code == int(ExitCode.CONFIG)
    assert f"{bad}:6: probe 'x': unknown kind 'htttp'" in err


def test_unknown_probe_name_is_a_usage_error(
    setup: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = invoke(["verify", "--suite", "smoke", "--probe", "nope"], capsys)
    assert code == int(ExitCode.USAGE) and "has no probe 'nope'" in err
