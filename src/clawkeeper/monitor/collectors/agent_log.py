"""`agent_log`: counts from OpenClaw's JSONL file log, read incrementally (see `tailer`).

Where the log is, as OpenClaw decides it: `[monitor.collectors] log_path` when set, else the
agent's `logging.file`, else `/tmp/openclaw/openclaw[-<profile>]-YYYY-MM-DD.log` (local date; the
fallback `$TMPDIR/openclaw-<uid>/` is watched too). A dated ("rolling") name is followed across
midnight: yesterday's, today's and tomorrow's files are watched. Size rotation renames the file to
`<name>.1.log` ... `<name>.5.log`; a file being read is finished under its new name.

Each line is one tslog record: `_meta.logLevelName` gives the level (FATAL, ERROR, WARN, INFO,
DEBUG, TRACE/SILLY counted as debug); numbered keys hold the arguments. A model failover is a
`model fallback decision` record whose object argument says `decision: candidate_failed` and names
a next candidate. A line that is not a JSON object with a level counts as a read error.

OpenClaw 2026.8/2026.9 do not write token use or cost to this log (they keep them per reply in the
session transcripts); the `data_quality` collector reports `agent_tokens_total` and
`agent_cost_usd_total` from there.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from clawkeeper.agent.openclaw.paths import expand_user_path
from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import CollectorError, CounterSet, counter_info
from clawkeeper.monitor.collectors.tailer import JsonlTailer, TailPaths
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

LEVELS = ("fatal", "error", "warn", "info", "debug")
_LEVEL_ALIASES = {"warning": "warn", "trace": "debug", "silly": "debug", "critical": "fatal", "err": "error"}
ROTATED_COPIES = 5  # OpenClaw keeps <name>.1.log .. <name>.5.log
ROLLING_RE = re.compile(r"^(openclaw(?:-[a-z0-9-]+)?)-(\d{4}-\d{2}-\d{2})\.log$")
LEGACY_ROLLING_NAME = "openclaw-YYYY-MM-DD.log"
FAILOVER_EVENT = "model_fallback_decision"
FAILOVER_TEXT = "model fallback decision: decision=candidate_failed"

METRICS: tuple[MetricInfo, ...] = (
    counter_info(
        "agent_log_lines_total", "OpenClaw log lines by level since the keeper started.", labels=("level",)
    ),
    counter_info("agent_log_errors_total", "OpenClaw log lines at ERROR or FATAL."),
    counter_info("agent_log_warnings_total", "OpenClaw log lines at WARN."),
    counter_info(
        "agent_model_failovers_total",
        "Model failovers: a model call failed and the next candidate was tried.",
    ),
    counter_info("agent_log_read_errors_total", "Log lines that are not a JSON record with a level."),
)


# --- where the log is ---------------------------------------------------------------------------


def rotated_names(path: Path) -> list[Path]:
    """`x.log` -> `x.1.log` ... `x.5.log` (OpenClaw puts the index before the extension)."""
    stem, suffix = (path.name[: -len(path.suffix)], path.suffix) if path.suffix else (path.name, "")
    return [path.with_name(f"{stem}.{i}{suffix}") for i in range(1, ROTATED_COPIES + 1)]


def rolling_family(path: Path) -> str | None:
    """The dated family (`openclaw`, `openclaw-dev`) when `path` is a rolling log name."""
    if path.name == LEGACY_ROLLING_NAME:
        return "openclaw"
    match = ROLLING_RE.match(path.name)
    return match.group(1) if match else None


def log_paths(primary: Path, today: date, extra_dirs: Sequence[Path] = ()) -> TailPaths:
    """The files to watch for a configured or default log path on `today` (local date)."""
    family = rolling_family(primary)
    if family is None:
        active = [primary]
    else:
        days = [today - timedelta(days=1), today, today + timedelta(days=1)]
        dirs = [primary.parent, *[d for d in extra_dirs if d != primary.parent]]
        active = [d / f"{family}-{day.isoformat()}.log" for d in dirs for day in days]
    rotated = [r for p in active for r in rotated_names(p)]
    return TailPaths(active=active, rotated=rotated)


def profile_segment(profile: str | None) -> str | None:
    """OpenClaw's file-name encoding of a profile (`encodeLogProfileSegment`); None for default."""
    if not profile or profile.strip().lower() == "default":
        return None
    out = []
    for char in profile.strip():
        if re.fullmatch(r"[a-z0-9]", char):
            out.append(char)
        elif char == "-":
            out.append("--")
        elif char == "_":
            out.append("-0")
        elif re.fullmatch(r"[A-Z]", char):
            out.append(f"-1{char.lower()}")
        else:
            out.append(f"-2{ord(char):x}-")
    return "".join(out)


def default_log_path(env: Mapping[str, str], today: date) -> tuple[Path, list[Path]]:
    """(today's default log, fallback dirs) as OpenClaw picks them when `logging.file` is unset."""
    segment = profile_segment(env.get("OPENCLAW_PROFILE"))
    name = f"openclaw{'-' + segment if segment else ''}-{today.isoformat()}.log"
    tmp = Path(env.get("TMPDIR") or tempfile.gettempdir())
    fallback = tmp / f"openclaw-{os.getuid()}" if hasattr(os, "getuid") else tmp / "openclaw"
    return Path("/tmp/openclaw") / name, [fallback]  # noqa: S108 - OpenClaw's own default


def configured_log_path(config: Mapping[str, Any], env: Mapping[str, str]) -> Path | None:
    logging = config.get("logging")
    raw = logging.get("file") if isinstance(logging, Mapping) else None
    return expand_user_path(raw, env) if isinstance(raw, str) and raw.strip() else None


# --- what a line says ---------------------------------------------------------------------------


def record_level(record: Mapping[str, Any]) -> str | None:
    meta = record.get("_meta")
    raw = meta.get("logLevelName") if isinstance(meta, Mapping) else None
    if not isinstance(raw, str):
        raw = record.get("level") if isinstance(record.get("level"), str) else None
    if raw is None:
        return None
    level = raw.strip().lower()
    level = _LEVEL_ALIASES.get(level, level)
    return level if level in LEVELS else None


def _arguments(record: Mapping[str, Any]) -> Iterable[Any]:
    index = 0
    while str(index) in record:
        yield record[str(index)]
        index += 1


def is_failover(record: Mapping[str, Any]) -> bool:
    for argument in _arguments(record):
        if isinstance(argument, Mapping) and argument.get("event") == FAILOVER_EVENT:
            failed = argument.get("decision") == "candidate_failed"
            return failed and bool(argument.get("nextCandidateProvider"))
    message = record.get("message")
    return isinstance(message, str) and FAILOVER_TEXT in message and "next=none" not in message


class AgentLogCollector:
    name = "agent_log"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(self, locate: Callable[[], tuple[Path, TailPaths]], **tailer_options: Any) -> None:
        """`locate` returns (the primary log path, the paths to watch), asked on every run."""
        self._locate = locate
        self._primary: Path | None = None
        self._tailer = JsonlTailer(self._paths, **tailer_options)
        self._counters = CounterSet()
        for level in LEVELS:
            self._counters.declare("agent_log_lines_total", level=level)
        for name in (
            "agent_log_errors_total",
            "agent_log_warnings_total",
            "agent_model_failovers_total",
            "agent_log_read_errors_total",
        ):
            self._counters.declare(name)

    @classmethod
    def for_agent(
        cls, link: AgentLink, override: Path | None = None, **tailer_options: Any
    ) -> AgentLogCollector:
        def locate() -> tuple[Path, TailPaths]:
            today = datetime.fromtimestamp(time.time()).date()
            if override is not None:
                return override, log_paths(override, today)
            env = link.target().process_env()
            configured = configured_log_path(link.config(), env)
            if configured is not None:
                return configured, log_paths(configured, today)
            primary, fallbacks = default_log_path(env, today)
            return primary, log_paths(primary, today, fallbacks)

        return cls(locate, **tailer_options)

    def _paths(self) -> TailPaths:
        self._primary, paths = self._locate()
        return paths

    def collect(self, ctx: CollectContext) -> list[Sample]:
        result = self._tailer.poll()
        if not self._tailer.tracked and self._primary is not None and not self._primary.parent.is_dir():
            raise CollectorError(
                f"the OpenClaw log directory {self._primary.parent} does not exist",
                hint="set logging.file in openclaw.json or [monitor.collectors] log_path in clawkeeper.toml",
            )
        for line in result.lines:
            self._count(line)
        self._counters.add("agent_log_read_errors_total", result.dropped_lines)
        return self._counters.samples(ctx.now)

    def _count(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        level = record_level(record) if isinstance(record, dict) else None
        if record is None or level is None:
            self._counters.add("agent_log_read_errors_total")
            return
        self._counters.add("agent_log_lines_total", level=level)
        if level in ("error", "fatal"):
            self._counters.add("agent_log_errors_total")
        elif level == "warn":
            self._counters.add("agent_log_warnings_total")
        if is_failover(record):
            self._counters.add("agent_model_failovers_total")
