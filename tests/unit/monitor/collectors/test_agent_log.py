"""The OpenClaw log collector: levels, errors, failovers and read errors from real log lines."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.agent_log import (
    AgentLogCollector,
    default_log_path,
    is_failover,
    log_paths,
    profile_segment,
    rotated_names,
)
from clawkeeper.monitor.collectors.base import CollectorError
from clawkeeper.monitor.collectors.tailer import TailPaths
from tests.unit.monitor.collectors.helpers import FIXTURES, ctx, value

REAL_LOG = FIXTURES / "logs" / "openclaw-2026.9.6.log"

# The record OpenClaw 2026.9.6 writes when a model call fails and the next candidate is tried
# (`logModelFallbackDecision` in dist/model-fallback-attempt-*.mjs); the fields are that code's.
FAILOVER = {
    "0": '{"subsystem":"model-fallback/decision"}',
    "1": "model fallback decision",
    "2": {
        "event": "model_fallback_decision",
        "decision": "candidate_failed",
        "requestedProvider": "anthropic",
        "requestedModel": "claude-x",
        "candidateProvider": "anthropic",
        "candidateModel": "claude-x",
        "reason": "rate_limit",
        "nextCandidateProvider": "openai",
        "nextCandidateModel": "gpt-y",
    },
    "_meta": {"logLevelName": "WARN", "date": "2026-11-22T07:07:05.531Z"},
    "time": "2026-11-22T07:07:05.532+00:00",
    "message": "model fallback decision",
}


def collector_on(path: Path) -> AgentLogCollector:
    return AgentLogCollector(lambda: (path, TailPaths(active=[path])))


def started(path: Path) -> AgentLogCollector:
    path.touch()
    collector = collector_on(path)
    collector.collect(ctx())  # first run: starts at the end
    return collector


def test_real_log_lines_are_counted_by_level(tmp_path: Path) -> None:
    log = tmp_path / "openclaw.log"
    collector = started(log)
    log.write_text(REAL_LOG.read_text())
    samples = collector.collect(ctx())
    assert value(samples, "agent_log_lines_total", level="info") == 6
    assert value(samples, "agent_log_lines_total", level="warn") == 3
    assert value(samples, "agent_log_lines_total", level="error") == 3
    assert value(samples, "agent_log_lines_total", level="fatal") == 0
    assert value(samples, "agent_log_errors_total") == 3
    assert value(samples, "agent_log_warnings_total") == 3
    assert value(samples, "agent_log_read_errors_total") == 0
    assert value(samples, "agent_model_failovers_total") == 0


def test_counters_accumulate_and_history_before_the_start_is_not_counted(tmp_path: Path) -> None:
    log = tmp_path / "openclaw.log"
    log.write_text(REAL_LOG.read_text())  # a day of history
    collector = collector_on(log)
    assert value(collector.collect(ctx()), "agent_log_errors_total") == 0
    error_line = next(line for line in REAL_LOG.read_text().splitlines() if '"ERROR"' in line)
    for appended, total in ((1, 1), (2, 3)):
        with log.open("a") as handle:
            handle.write((error_line + "\n") * appended)
        assert value(collector.collect(ctx()), "agent_log_errors_total") == total


def test_garbage_and_lines_without_a_level_are_read_errors(tmp_path: Path) -> None:
    log = tmp_path / "openclaw.log"
    collector = started(log)
    log.write_text('not json\n[1, 2]\n{"message": "no level"}\n{"_meta": {"logLevelName": "TRACE"}}\n')
    samples = collector.collect(ctx())
    assert value(samples, "agent_log_read_errors_total") == 3
    assert value(samples, "agent_log_lines_total", level="debug") == 1


def test_a_model_failover_is_counted_once(tmp_path: Path) -> None:
    log = tmp_path / "openclaw.log"
    collector = started(log)
    succeeded = json.loads(json.dumps(FAILOVER))
    succeeded["2"]["decision"] = "candidate_succeeded"
    log.write_text(json.dumps(FAILOVER) + "\n" + json.dumps(succeeded) + "\n")
    samples = collector.collect(ctx())
    assert value(samples, "agent_model_failovers_total") == 1
    assert value(samples, "agent_log_warnings_total") == 2


@pytest.mark.parametrize(
    ("message", "counted"),
    [
        ("model fallback decision: decision=candidate_failed requested=a/b candidate=a/b next=c/d", True),
        ("model fallback decision: decision=candidate_failed requested=a/b candidate=a/b next=none", False),
        ("model fallback decision: decision=skip_candidate requested=a/b candidate=a/b next=c/d", False),
    ],
)
def test_failover_from_the_console_message_when_no_object_argument(message: str, counted: bool) -> None:
    assert is_failover({"0": "x", "message": message}) is counted


def test_the_last_failover_with_no_next_candidate_is_not_a_failover() -> None:
    record = json.loads(json.dumps(FAILOVER))
    del record["2"]["nextCandidateProvider"]
    assert not is_failover(record)


def test_rotated_names_put_the_index_before_the_extension() -> None:
    assert [p.name for p in rotated_names(Path("/l/openclaw-2026-11-22.log"))][:2] == [
        "openclaw-2026-11-22.1.log",
        "openclaw-2026-11-22.2.log",
    ]
    assert len(rotated_names(Path("/l/openclaw.log"))) == 5


def test_a_dated_log_is_followed_over_three_days_and_a_fixed_one_alone() -> None:
    rolling = log_paths(Path("/tmp/openclaw/openclaw-dev-2026-11-22.log"), date(2026, 11, 22))
    assert [p.name for p in rolling.active] == [
        "openclaw-dev-2026-11-21.log",
        "openclaw-dev-2026-11-22.log",
        "openclaw-dev-2026-11-23.log",
    ]
    assert Path("/tmp/openclaw/openclaw-dev-2026-11-22.1.log") in rolling.rotated
    fixed = log_paths(Path("/srv/lab/logs/openclaw.log"), date(2026, 11, 22))
    assert fixed.active == [Path("/srv/lab/logs/openclaw.log")]


@pytest.mark.parametrize(
    ("profile", "segment"),
    [(None, None), ("default", None), ("dev", "dev"), ("my_Bot-2", "my-0-1bot--2")],
)
def test_profile_names_are_encoded_as_openclaw_does(profile: str | None, segment: str | None) -> None:
    assert profile_segment(profile) == segment


def test_the_default_log_is_dated_under_tmp_openclaw() -> None:
    path, fallbacks = default_log_path({"OPENCLAW_PROFILE": "dev", "TMPDIR": "/var/tmp"}, date(2026, 1, 2))
    assert path == Path("/tmp/openclaw/openclaw-dev-2026-01-02.log")
    assert fallbacks[0].parent == Path("/var/tmp")


def test_logging_file_in_the_agents_config_is_followed(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    state.mkdir()
    log = tmp_path / "logs" / "gateway.log"
    log.parent.mkdir()
    log.touch()
    (state / "openclaw.json").write_text(f'{{ logging: {{ file: "{log}" }} }}')  # JSON5, as OpenClaw writes
    target = OpenClawTarget(label="live", binary=tmp_path / "openclaw", state_dir=state)
    collector = AgentLogCollector.for_agent(AgentLink(Settings(), target))
    collector.collect(ctx())
    log.write_text(REAL_LOG.read_text().splitlines()[0] + "\n")
    assert value(collector.collect(ctx()), "agent_log_lines_total", level="info") == 1


def test_a_missing_log_directory_fails_the_collector_with_the_fix(tmp_path: Path) -> None:
    collector = collector_on(tmp_path / "nowhere" / "openclaw.log")
    with pytest.raises(CollectorError, match="does not exist") as caught:
        collector.collect(ctx())
    assert "logging.file" in (caught.value.hint or "")
