"""The default jobs, what clawkeeper.toml can change, and the errors a bad setting gives."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clawkeeper.config import Settings, load_config
from clawkeeper.errors import ConfigError
from clawkeeper.ledger import Ledger
from clawkeeper.monitor.schedule.build import build_jobs
from clawkeeper.monitor.schedule.cleanup import prune_ledger
from clawkeeper.monitor.schedule.cron import CronSchedule, check_cron, host_timezone
from clawkeeper.monitor.schedule.jobs import CliAction, resolve_jobs
from clawkeeper.monitor.settings import JobSettings, ScheduleSettings

from .conftest import spec


def settings_with(tmp: Path, **schedule: object) -> Settings:
    return Settings.model_validate(
        {
            "backup": {"repo": str(tmp / "repo")},
            "ledger": {"path": str(tmp / "ledger.sqlite")},
            "monitor": {"store": {"path": str(tmp / "monitor.sqlite")}, "schedule": schedule},
        }
    )


def by_name(settings: Settings) -> dict[str, object]:
    return {job.name: job for job in build_jobs(settings)}


def test_default_jobs_and_their_commands(tmp_path: Path) -> None:
    jobs = build_jobs(settings_with(tmp_path, timezone="UTC"))
    table = {j.name: (j.cron, j.enabled, j.why_not) for j in jobs}
    assert table == {
        "backup": ("0 */4 * * *", True, None),
        "backup-verify": ("30 3 * * *", True, None),
        "update-check": ("0 6 * * *", True, None),
        "verify": ("0 5 * * *", True, None),
        "cleanup": ("30 4 * * *", True, None),
        "audit": ("0 7 * * 0", False, "not available in this version"),
        "drill": ("0 8 1 1,7 *", False, "not available in this version"),
    }
    actions = {j.name: j.spec.action for j in jobs}
    assert actions["backup"] == CliAction(("backup", "create", "--json"))
    assert actions["backup-verify"] == CliAction(("backup", "verify", "--sample", "10%", "--json"))
    assert actions["verify"] == CliAction(("verify", "--suite", "smoke", "--json"))


def test_backup_jobs_are_disabled_without_a_repository_and_say_why(tmp_path: Path) -> None:
    settings = Settings.model_validate({"monitor": {"schedule": {"timezone": "UTC"}}})
    jobs = by_name(settings)
    for name in ("backup", "backup-verify"):
        job = jobs[name]
        assert job.enabled is False  # type: ignore[attr-defined]
        assert job.why_not == "no backup repository configured (backup.repo)"  # type: ignore[attr-defined]
    assert jobs["verify"].enabled is True  # type: ignore[attr-defined]


def test_config_overrides_cron_enabled_and_timeout(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path,
        timezone="Europe/Berlin",
        jobs={"backup": {"cron": "@hourly", "timeout": "20m"}, "verify": {"enabled": False}},
    )
    jobs = by_name(settings)
    backup, verify = jobs["backup"], jobs["verify"]
    assert (backup.cron, backup.timeout_s, backup.timezone) == ("0 * * * *", 1200.0, "Europe/Berlin")  # type: ignore[attr-defined]
    assert verify.enabled is False  # type: ignore[attr-defined]
    assert verify.why_not == "disabled in the config (monitor.schedule.jobs.verify.enabled = false)"  # type: ignore[attr-defined]


def test_a_bad_cron_in_the_config_file_is_one_config_error_naming_job_and_expression(tmp_path: Path) -> None:
    config = tmp_path / "clawkeeper.toml"
    config.write_text('[monitor.schedule.jobs.backup]\ncron = "61 * * * *"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    line = caught.value.one_line()
    assert "monitor.schedule.jobs.backup.cron" in line and "'61 * * * *'" in line
    assert "Bad minute" in line and "\n" not in line


def test_a_bad_cron_reaching_the_scheduler_is_one_config_error_too() -> None:
    settings = ScheduleSettings.model_construct(
        timezone="UTC",
        catch_up=True,
        jobs={"nightly": JobSettings.model_construct(cron="0 3 * *", enabled=True)},
    )
    with pytest.raises(
        ConfigError, match=r"monitor\.schedule\.jobs\.nightly\.cron = '0 3 \* \*' is invalid: 4 fields"
    ):
        resolve_jobs([spec("nightly")], settings)


def test_an_unknown_job_name_is_a_config_error_listing_the_jobs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no job called 'bakcup'") as caught:
        build_jobs(settings_with(tmp_path, jobs={"bakcup": {"enabled": False}}))
    assert "backup-verify" in (caught.value.hint or "")


def test_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "clawkeeper.toml"
    config.write_text('[monitor.schedule]\ntimezone = "Mars/Olympus_Mons"\n')
    with pytest.raises(ConfigError, match="'Mars/Olympus_Mons' is not an IANA time zone"):
        load_config(config)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("* * * *", "4 fields"),
        ("0 25 * * *", "Bad hour"),
        ("0 0 31 2 *", "Bad day-of-month"),
        ("@often", "1 fields"),
    ],
)
def test_check_cron_says_what_is_wrong(expr: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_cron(expr)


def test_next_fire_is_computed_in_the_configured_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    schedule = CronSchedule.parse("0 6 * * *", new_york)
    start = datetime(2025, 7, 1, 12, 0, tzinfo=UTC).timestamp()  # 08:00 in New York
    fire = schedule.next_after(start)
    assert fire == datetime(2025, 7, 2, 6, 0, tzinfo=new_york).timestamp()
    assert schedule.describe(fire or 0) == "2025-07-02 06:00 EDT"


def test_the_host_zone_comes_from_tz_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    zone, name = host_timezone()
    assert name == "Asia/Tokyo" and datetime(2025, 1, 1, tzinfo=zone).utcoffset().total_seconds() == 9 * 3600  # type: ignore[union-attr]


def test_cleanup_prunes_old_ledger_runs_but_keeps_the_newest_of_each_command(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        ids = {}
        for name in ("old backup", "older backup", "old status", "recent backup", "running"):
            command = name.split()[-1]
            ids[name] = ledger.start_run(command, {})
            step = ledger.start_step(ids[name], "work")
            if name != "running":
                ledger.finish_step(step, outcome="ok")
                ledger.finish_run(ids[name], outcome="ok", exit_code=0)
    conn = sqlite3.connect(path)
    old = "2020-01-01T00:00:00.000+00:00"
    with conn:
        for name in ("old backup", "older backup", "old status"):
            conn.execute("UPDATE runs SET ended_at = ? WHERE id = ?", (old, ids[name]))
    conn.close()
    removed = prune_ledger(path, older_than=datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    assert removed == 2  # "old status" is the only status run: kept
    with Ledger(path) as ledger:
        left = {r.id for r in ledger.recent_runs(limit=100)}
    assert left == {ids["old status"], ids["recent backup"], ids["running"]}
    conn = sqlite3.connect(path)
    orphans = conn.execute("SELECT COUNT(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()[
        0
    ]
    conn.close()
    assert orphans == 0
