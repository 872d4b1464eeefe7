"""`clawkeeper schedule list` and `schedule run`, through the real CLI entry point."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from clawkeeper.cli import lazy
from clawkeeper.cli.main import main_exit_code
from clawkeeper.ledger import Ledger
from clawkeeper.monitor.schedule.locks import JobLock


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(lazy.LAZY, "schedule", "clawkeeper.cli.schedule_cmd:app")
    path = tmp_path / "clawkeeper.toml"
    path.write_text(
        f'[ledger]\npath = "{tmp_path / "ledger.sqlite"}"\n'
        f'[monitor.store]\npath = "{tmp_path / "state" / "monitor.sqlite"}"\n'
        '[monitor.schedule]\ntimezone = "Europe/Berlin"\n'
        "[monitor.schedule.jobs.verify]\nenabled = false\n"
    )
    return path


def ck(config: Path, *args: str) -> int:
    return main_exit_code(["--config", str(config), "schedule", *args])


def test_list_shows_every_job_with_its_state_and_why_it_is_disabled(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ck(config, "list", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "schedule.list" and document["timezone"] == "Europe/Berlin"
    jobs = {j["job"]: j for j in document["jobs"]}
    assert jobs["backup"]["why_not"] == "no backup repository configured (backup.repo)"
    assert (
        jobs["verify"]["why_not"] == "disabled in the config (monitor.schedule.jobs.verify.enabled = false)"
    )
    assert jobs["audit"]["why_not"] == "not available in this version" and jobs["audit"]["available"] is False
    assert jobs["backup"]["next_run"] is None
    assert jobs["cleanup"]["enabled"] is True and jobs["cleanup"]["next_run"].endswith(("+01:00", "+02:00"))
    assert jobs["cleanup"]["next_run_ts"] > time.time()
    assert ck(config, "list") == 0
    table = capsys.readouterr().out
    assert "Maintenance schedule (times in Europe/Berlin)" in table and "update-check" in table


def test_run_runs_a_job_now_records_it_and_list_shows_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ck(config, "run", "cleanup", "--json") == 0
    finished = json.loads(capsys.readouterr().out)
    assert finished["kind"] == "schedule.run" and finished["outcome"] == "ok"
    assert finished["trigger"] == "manual" and "ledger_runs_pruned" in finished["detail"]
    with Ledger(config.parent / "ledger.sqlite") as ledger:
        run = ledger.get_run(finished["run_id"])
    assert run.command == "schedule cleanup" and run.outcome == "ok"
    assert ck(config, "list", "--json") == 0
    jobs = {j["job"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["cleanup"]["last_run"]["outcome"] == "ok"
    assert jobs["cleanup"]["last_run"]["trigger"] == "manual"


def test_run_a_disabled_job_by_name_still_runs_it_but_not_one_missing_its_prerequisite(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ck(config, "run", "verify", "--dry-run", "--json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True
    assert plan["action"][-6:] == ["--config", str(config), "verify", "--suite", "smoke", "--json"]
    assert ck(config, "run", "backup") == 3
    assert "job backup cannot run: no backup repository configured" in capsys.readouterr().err


def test_run_refuses_unknown_and_unavailable_jobs(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ck(config, "run", "bakup") == 15
    assert "no job called 'bakup'" in capsys.readouterr().err
    assert ck(config, "run", "drill") == 2
    assert "job drill is not available in this version" in capsys.readouterr().err


def test_run_while_the_job_runs_elsewhere_exits_8(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = JobLock(config.parent / "state" / "schedule" / "cleanup.lock", "cleanup")
    lock.acquire(now=time.time())
    try:
        assert ck(config, "run", "cleanup") == 8
    finally:
        lock.release()
    assert "job cleanup is already running" in capsys.readouterr().err


def test_run_exits_with_the_jobs_own_exit_code(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with config.open("a") as handle:
        handle.write(f'[backup]\nrepo = "{tmp_path / "no-such-repo"}"\n')
    code = ck(config, "run", "backup-verify", "--json")
    finished = json.loads(capsys.readouterr().out)
    assert code != 0 and code == finished["exit_code"] and finished["outcome"] == "failed"
    assert finished["error"]
