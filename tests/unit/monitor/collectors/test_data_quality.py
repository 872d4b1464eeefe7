"""Data quality from real OpenClaw transcripts, read incrementally and read-only from SQLite."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.config import Settings
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import CollectorError
from clawkeeper.monitor.collectors.data_quality import DataQualityCollector, tally
from clawkeeper.monitor.collectors.transcripts import (
    REWRITE_SLACK_MS,
    TranscriptEvent,
    TranscriptReader,
    agent_databases,
)
from tests.unit.monitor.collectors.helpers import FIXTURES, ctx, value

TRANSCRIPTS = FIXTURES / "transcripts"
# navigation_json that satisfies 2026.9's CHECK for compressed rows (OpenClaw writes a richer one)
NAVIGATION = json.dumps(
    {
        "version": 1,
        "report": {"kind": "canonical"},
        "navigation": {},
        "reset": {},
        "model": {},
        "modelBytes": 0,
        "modelWithoutCheckpointBytes": 0,
        "withoutCustomDataBytes": 0,
    }
)


def recorded(version: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (TRANSCRIPTS / f"{version}.jsonl").read_text().splitlines()]


def create_db(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # as OpenClaw runs it
        schema = (TRANSCRIPTS / f"{version}.schema.sql").read_text()
        # Python's SQLite may predate octet_length() (3.43); length() is the same on these bytes
        conn.executescript(schema.replace("octet_length(", "length("))
    return path


def insert(path: Path, rows: Iterable[dict[str, Any]], *, created_at: int | None = None) -> None:
    with sqlite3.connect(path) as conn:
        compressed = "event_zstd" in {r[1] for r in conn.execute("PRAGMA table_info(transcript_events)")}
        for row in rows:
            text = json.dumps(row["event"], separators=(",", ":"))
            when = created_at if created_at is not None else row["created_at"]
            if compressed and row.get("compressed"):
                data = text.encode()
                conn.execute(
                    "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, "
                    "event_utf8_bytes, navigation_json) VALUES (?, ?, NULL, ?, ?, ?, ?)",
                    (row["session_id"], row["seq"], when, zstandard.compress(data), len(data), NAVIGATION),
                )
            else:
                conn.execute(
                    "INSERT INTO transcript_events (session_id, seq, event_json, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (row["session_id"], row["seq"], text, when),
                )


def events(version: str) -> list[TranscriptEvent]:
    return [
        TranscriptEvent(Path("db"), r["session_id"], r["seq"], r["created_at"], r["event"])
        for r in recorded(version)
    ]


# --- classification of real transcripts ------------------------------------------------------------


def test_real_2026_9_6_transcripts_count_messages_replies_and_tool_failures() -> None:
    # probe turns: a plain reply, an exec tool call, a memory write and a memory search, a turn
    # whose model endpoint was down (stopReason "error"), and a read call with wrong arguments
    counts = tally(events("2026.9.6"))
    assert (counts.inbound, counts.outbound) == (6, 6)
    assert counts.failed == 1
    assert counts.empty == 0
    assert (counts.tool_calls, counts.tool_failures) == (4, 1)
    assert counts.missing_fields == 0
    assert dict(counts.tokens) == {"input": 9.0, "output": 9.0}


def test_real_2026_8_2_transcripts_have_the_same_shape() -> None:
    counts = tally(events("2026.8.2"))
    assert (counts.inbound, counts.outbound, counts.failed) == (4, 4, 0)
    assert (counts.tool_calls, counts.tool_failures) == (3, 0)


def _message(role: str, **fields: Any) -> TranscriptEvent:
    return TranscriptEvent(
        Path("db"), "s", 0, 0, {"type": "message", "id": "x", "message": {"role": role, **fields}}
    )


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_message("assistant", content=[], stopReason="stop"), {"outbound": 1, "empty": 1}),
        (
            _message("assistant", content=[{"type": "text", "text": "  "}], stopReason="stop"),
            {"outbound": 1, "empty": 1},
        ),
        (
            _message("assistant", content=[{"type": "text", "text": "NO_REPLY"}], stopReason="stop"),
            {"outbound": 1},
        ),
        (_message("assistant", content=[], stopReason="aborted"), {"outbound": 1, "failed": 1}),
        (
            _message("assistant", content=[{"type": "toolCall", "name": "exec"}], stopReason="toolUse"),
            {"tool_calls": 1},
        ),
        (_message("assistant", content=[]), {"outbound": 1, "empty": 1, "missing_fields": 1}),
        (_message("user"), {"inbound": 1, "missing_fields": 1}),
        (_message("toolResult", content=[], isError=True), {"tool_failures": 1, "missing_fields": 1}),
        (TranscriptEvent(Path("db"), "s", 0, 0, {"message": {}}), {"missing_fields": 1}),
        (TranscriptEvent(Path("db"), "s", 0, 0, {"type": "message", "message": "?"}), {"missing_fields": 1}),
        (TranscriptEvent(Path("db"), "s", 0, 0, None, "ValueError: bad json"), {"missing_fields": 1}),
        (TranscriptEvent(Path("db"), "s", 0, 0, {"type": "model_change"}), {}),
    ],
)
def test_classification_rules(entry: TranscriptEvent, expected: dict[str, int]) -> None:
    counts = tally([entry])
    fields = ("inbound", "outbound", "empty", "failed", "tool_calls", "tool_failures", "missing_fields")
    assert {f: getattr(counts, f) for f in fields if getattr(counts, f)} == expected


def test_cost_is_summed_from_usage() -> None:
    usage = {"input": 10, "output": 5, "cacheRead": 100, "cost": {"total": 0.0125}}
    counts = tally(
        [_message("assistant", content=[{"type": "text", "text": "hi"}], stopReason="stop", usage=usage)] * 2
    )
    assert counts.cost_usd == pytest.approx(0.025)
    assert dict(counts.tokens) == {"cache_read": 200.0, "input": 20.0, "output": 10.0}


# --- incremental, read-only reading --------------------------------------------------------------


@pytest.mark.parametrize("version", ["2026.8.2", "2026.9.6"])
def test_reader_starts_at_the_end_then_reads_new_rows_including_compressed_ones(
    tmp_path: Path, version: str
) -> None:
    rows = recorded(version)
    db = create_db(tmp_path / "agents" / "probe" / "agent" / "openclaw-agent.sqlite", version)
    insert(db, rows[:5])
    reader = TranscriptReader(lambda: [db])
    assert reader.poll().events == []
    insert(db, rows[5:])
    batch = reader.poll()
    assert [(e.session_id, e.seq) for e in batch.events] == [(r["session_id"], r["seq"]) for r in rows[5:]]
    assert all(e.event is not None for e in batch.events)
    assert reader.poll().events == []


def test_the_agent_database_is_never_written(tmp_path: Path) -> None:
    db = create_db(tmp_path / "openclaw-agent.sqlite", "2026.9.6")
    insert(db, recorded("2026.9.6"))
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    reader = TranscriptReader(lambda: [db], start_at_end=False)
    assert len(reader.poll().events) == len(recorded("2026.9.6"))
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    # the database and its write-ahead log are untouched (readers only mark the -shm index)
    for name in ("openclaw-agent.sqlite", "openclaw-agent.sqlite-wal"):
        assert after.get(name) == before.get(name)


def test_rewritten_and_restored_rows_are_not_counted_twice(tmp_path: Path) -> None:
    rows = recorded("2026.9.6")
    db = create_db(tmp_path / "openclaw-agent.sqlite", "2026.9.6")
    reader = TranscriptReader(lambda: [db])
    reader.poll()
    insert(db, rows)
    assert len(reader.poll().events) == len(rows)
    # OpenClaw rewrites a transcript suffix: delete and re-insert with the original created_at
    session = rows[-1]["session_id"]
    suffix = [r for r in rows if r["session_id"] == session]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM transcript_events WHERE session_id = ?", (session,))
    insert(db, suffix)
    assert reader.poll().events == []
    # a cold archive restored weeks later: old created_at, new row ids
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM transcript_events WHERE session_id = ?", (rows[0]["session_id"],))
    insert(db, [r for r in rows if r["session_id"] == rows[0]["session_id"]])
    assert reader.poll().events == []
    # and genuinely new entries still come through
    fresh = {**rows[-1], "seq": 999, "event": {**rows[-1]["event"], "id": "new-entry"}}
    insert(db, [fresh], created_at=rows[-1]["created_at"] + REWRITE_SLACK_MS * 3)
    assert [e.seq for e in reader.poll().events] == [999]


def test_a_replaced_database_is_started_at_its_end(tmp_path: Path) -> None:
    rows = recorded("2026.8.2")
    db = create_db(tmp_path / "openclaw-agent.sqlite", "2026.8.2")
    insert(db, rows)
    reader = TranscriptReader(lambda: [db])
    reader.poll()
    db.unlink()
    for extra in tmp_path.glob("openclaw-agent.sqlite-*"):
        extra.unlink()
    create_db(db, "2026.8.2")
    insert(db, rows[:3])  # a restored, smaller database
    assert reader.poll().events == []


def test_reads_are_bounded_per_run(tmp_path: Path) -> None:
    rows = recorded("2026.9.6")
    db = create_db(tmp_path / "openclaw-agent.sqlite", "2026.9.6")
    reader = TranscriptReader(lambda: [db], max_rows=10)
    reader.poll()
    insert(db, rows)
    seen: list[int] = []
    for _ in range(10):
        batch = reader.poll()
        assert len(batch.events) <= 10
        seen += [e.seq for e in batch.events]
        if not batch.backlog:
            break
    assert seen == [r["seq"] for r in rows]


def test_agent_databases_are_found_in_the_default_layout_and_agent_dirs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    default = create_db(state / "agents" / "main" / "agent" / "openclaw-agent.sqlite", "2026.9.6")
    elsewhere = create_db(tmp_path / "elsewhere" / "openclaw-agent.sqlite", "2026.9.6")
    config = {"agents": {"entries": {"work": {"agentDir": str(elsewhere.parent)}}}}
    assert agent_databases(state, config) == sorted([default, elsewhere])


# --- the collector ---------------------------------------------------------------------------------


def test_collector_counts_and_the_hourly_failure_ratio(tmp_path: Path) -> None:
    state = tmp_path / ".openclaw"
    db = create_db(state / "agents" / "probe" / "agent" / "openclaw-agent.sqlite", "2026.9.6")
    target = OpenClawTarget(label="live", binary=tmp_path / "openclaw", state_dir=state)
    collector = DataQualityCollector.for_agent(AgentLink(Settings(), target))
    first = collector.collect(ctx(now=1000.0))
    assert value(first, "data_messages_total", direction="in") == 0
    assert value(first, "data_tool_call_failure_ratio") is None  # no calls: no ratio, not 0/0
    insert(db, recorded("2026.9.6"))
    samples = collector.collect(ctx(now=1060.0))
    assert value(samples, "data_messages_total", direction="in") == 6
    assert value(samples, "data_messages_total", direction="out") == 6
    assert value(samples, "data_replies_failed_total") == 1
    assert value(samples, "data_tool_calls_total") == 4
    assert value(samples, "data_tool_call_failures_total") == 1
    assert value(samples, "data_tool_call_failure_ratio") == pytest.approx(0.25)
    assert value(samples, "agent_tokens_total", kind="output") == 9
    assert value(collector.collect(ctx(now=1060.0 + 1800)), "data_tool_call_failure_ratio") == pytest.approx(
        0.25
    )
    later = collector.collect(ctx(now=1060.0 + 3601))
    assert value(later, "data_tool_call_failure_ratio") is None
    assert value(later, "data_tool_calls_total") == 4  # counters keep their totals


def test_unreadable_transcripts_fail_the_collector(tmp_path: Path) -> None:
    broken = tmp_path / "agents" / "main" / "agent" / "openclaw-agent.sqlite"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a database")
    collector = DataQualityCollector(TranscriptReader(lambda: [broken]).poll)
    with pytest.raises(CollectorError, match="cannot read the agent's transcripts"):
        collector.collect(ctx())


def test_an_agent_database_created_while_the_keeper_runs_is_read_from_its_first_row(
    tmp_path: Path,
) -> None:
    """A fresh agent's first turn creates its database: those turns are news, not history."""
    rows = recorded("2026.9.6")
    db = tmp_path / "agents" / "probe" / "agent" / "openclaw-agent.sqlite"
    reader = TranscriptReader(lambda: [db] if db.exists() else [])
    assert reader.poll().events == []  # the keeper starts: no agent database yet
    create_db(db, "2026.9.6")
    insert(db, rows)
    batch = reader.poll()
    assert [(e.session_id, e.seq) for e in batch.events] == [(r["session_id"], r["seq"]) for r in rows]
