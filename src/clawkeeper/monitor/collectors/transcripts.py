"""New session-transcript events from OpenClaw's agent databases, read-only and incrementally.

Where transcripts live (2026.8.2 and 2026.9.6 alike): one SQLite database per agent,
`<state dir>/agents/<agentId>/agent/openclaw-agent.sqlite` (or `<agentDir>/openclaw-agent.sqlite`
when `agents.entries.<id>.agentDir` says so), table `transcript_events(session_id, seq,
event_json, created_at)` — one row per transcript entry, `created_at` in Unix milliseconds, the
entry a pi-agent JSON record (`{"type": "message", "message": {"role": ...}}`, ...). 2026.9 stores
entries over a few KB compressed: `event_json` is NULL and `event_zstd` holds zstd bytes
(`event_utf8_bytes` long). Older installs kept `agents/<id>/sessions/*.jsonl`; those are imported
into SQLite by the versions above and not read here.

Reading never writes: `mode=ro` URI, a 200 ms busy timeout, one short SELECT per database per
run. The watermark is the row id; OpenClaw rewrites transcript suffixes and restores archived
("cold") sessions by deleting and re-inserting rows with their original `created_at`, so a row
more than `REWRITE_SLACK_MS` older than the newest one already seen is an old entry coming back,
not news, and entries within that window are de-duplicated by their id. The first time a database
is seen at the keeper's start the reader starts at its end (history is not counted); a database
that appears later (an agent's first turn) is read from its first row; at most `max_rows` rows are read
per database per run, the rest next time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REWRITE_SLACK_MS = 60_000
DEFAULT_MAX_ROWS = 5000
BUSY_TIMEOUT_S = 0.2
AGENT_DB_NAME = "openclaw-agent.sqlite"


@dataclass(frozen=True)
class TranscriptEvent:
    agent_db: Path
    session_id: str
    seq: int
    created_at_ms: int
    event: dict[str, Any] | None  # None: the row could not be decoded (see `problem`)
    problem: str | None = None


@dataclass
class _Watermark:
    rowid: int
    newest_ms: int
    recent: dict[tuple[str, str], int] = field(default_factory=dict)  # entry key -> created_at


@dataclass
class TranscriptBatch:
    events: list[TranscriptEvent] = field(default_factory=list)
    databases: int = 0  # databases read this run
    failures: dict[str, str] = field(default_factory=dict)  # database -> why it could not be read
    backlog: bool = False


def agent_databases(state_dir: Path, config: dict[str, Any]) -> list[Path]:
    """Every agent database of an install: the default layout plus configured `agentDir`s."""
    found = {p for p in state_dir.glob(f"agents/*/agent/{AGENT_DB_NAME}") if p.is_file()}
    agents = config.get("agents")
    entries = agents.get("entries") if isinstance(agents, dict) else None
    if isinstance(entries, dict):
        for entry in entries.values():
            agent_dir = entry.get("agentDir") if isinstance(entry, dict) else None
            if isinstance(agent_dir, str) and (Path(agent_dir) / AGENT_DB_NAME).is_file():
                found.add(Path(agent_dir) / AGENT_DB_NAME)
    return sorted(found)


def _decode(event_json: str | None, event_zstd: bytes | None, size: int | None) -> dict[str, Any]:
    if event_json is not None:
        text = event_json
    elif event_zstd is not None:
        import zstandard

        limit = size if size and size > 0 else 4 * 1024 * 1024
        text = zstandard.ZstdDecompressor().decompress(event_zstd, max_output_size=limit).decode("utf-8")
    else:
        raise ValueError("neither event_json nor event_zstd is set")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"entry is a {type(data).__name__}, not an object")
    return data


class TranscriptReader:
    def __init__(
        self,
        databases: Callable[[], Sequence[Path]],
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        start_at_end: bool = True,
    ) -> None:
        self._databases = databases
        self._max_rows = max_rows
        self._start_at_end = start_at_end
        self._marks: dict[Path, _Watermark] = {}
        self._polled = False  # databases that appear after the first poll are new: read them whole
        self._columns: dict[Path, tuple[str, ...]] = {}

    def poll(self) -> TranscriptBatch:
        batch = TranscriptBatch()
        paths = list(self._databases())
        for gone in set(self._marks) - set(paths):
            del self._marks[gone]
            self._columns.pop(gone, None)
        for path in paths:
            try:
                self._read(path, batch)
            except (sqlite3.Error, OSError) as exc:
                self._columns.pop(path, None)  # look at the schema again next time
                batch.failures[str(path)] = str(exc)
            else:
                batch.databases += 1
        self._polled = True
        return batch

    def _connect(self, path: Path) -> sqlite3.Connection:
        # mode=ro: never write the agent's database; timeout: the busy wait when a writer holds it
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)

    def _read(self, path: Path, batch: TranscriptBatch) -> None:
        conn = self._connect(path)
        try:
            columns = self._columns.get(path)
            if columns is None:
                columns = tuple(row[1] for row in conn.execute("PRAGMA table_info(transcript_events)"))
                if not columns:
                    raise sqlite3.OperationalError(
                        "no transcript_events table: not an OpenClaw agent database?"
                    )
                self._columns[path] = columns
            mark = self._marks.get(path)
            top_rowid, top_ms = conn.execute(
                "SELECT coalesce(max(rowid), 0), coalesce(max(created_at), 0) FROM transcript_events"
            ).fetchone()
            if mark is None or top_rowid < mark.rowid:
                # at the keeper's start, or a database replaced (restored): start at its end; an
                # agent database created while the keeper runs (an agent's first turn) is all news
                at_end = mark is not None or (self._start_at_end and not self._polled)
                start = (int(top_rowid), int(top_ms)) if at_end else (0, 0)
                mark = self._marks[path] = _Watermark(rowid=start[0], newest_ms=start[1])
            compressed = "event_zstd" in columns and "event_utf8_bytes" in columns
            extra = ", event_zstd, event_utf8_bytes" if compressed else ", NULL, NULL"
            rows = conn.execute(
                f"SELECT rowid, session_id, seq, created_at, event_json{extra} FROM transcript_events "  # noqa: S608 - fixed column names
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (mark.rowid, self._max_rows + 1),
            ).fetchall()
        finally:
            conn.close()
        if len(rows) > self._max_rows:
            rows = rows[: self._max_rows]
            batch.backlog = True
        for rowid, session_id, seq, created_at, event_json, event_zstd, size in rows:
            mark.rowid = max(mark.rowid, int(rowid))
            created = int(created_at)
            event: dict[str, Any] | None = None
            problem: str | None = None
            try:
                event = _decode(event_json, event_zstd, size)
            except Exception as exc:  # noqa: BLE001 - any undecodable row is data, not a crash
                problem = f"{type(exc).__name__}: {exc}"
            if not self._is_new(mark, str(session_id), int(seq), created, event):
                continue
            batch.events.append(TranscriptEvent(path, str(session_id), int(seq), created, event, problem))
        self._forget_old(mark)

    @staticmethod
    def _is_new(
        mark: _Watermark, session_id: str, seq: int, created: int, event: dict[str, Any] | None
    ) -> bool:
        if created < mark.newest_ms - REWRITE_SLACK_MS:
            return False  # an old entry re-inserted by a rewrite or a cold-archive restore
        entry_id = event.get("id") if event is not None else None
        key = (session_id, entry_id if isinstance(entry_id, str) else f"seq:{seq}")
        if key in mark.recent:
            return False
        mark.recent[key] = created
        mark.newest_ms = max(mark.newest_ms, created)
        return True

    @staticmethod
    def _forget_old(mark: _Watermark) -> None:
        cutoff = mark.newest_ms - REWRITE_SLACK_MS
        if mark.recent and min(mark.recent.values()) < cutoff:
            mark.recent = {k: v for k, v in mark.recent.items() if v >= cutoff}
