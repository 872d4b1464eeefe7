"""`data_quality`: what flows through the agent, from its session transcripts (see `transcripts`).

Every transcript entry read since the keeper started is classified:

- a `user` message is an inbound message (`data_messages_total{direction="in"}`);
- an `assistant` message that ends a turn (stop reason other than `toolUse`) is a reply
  (`direction="out"`). It *failed* when its stop reason is `error` or `aborted` or it carries an
  `errorMessage`; it is *empty* when it did not fail and has no text (whitespace only) and no tool
  call. Intentional silences such as `NO_REPLY` are text, so not empty;
- every `toolCall` item of an assistant message is a tool call; a `toolResult` message with
  `isError: true` is a failed one. The failure ratio is over the last hour of collection;
- a record misses fields when it cannot be decoded, has no `type`, or is a message without
  `role`, a user message without `content`, an assistant message without `content` or
  `stopReason`, or a tool result without `toolCallId` or `content`;
- token use and cost come from the `usage` of assistant messages (`input`, `output`, `cacheRead`,
  `cacheWrite`; `cost.total` in USD) — where OpenClaw reports them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clawkeeper.monitor.collectors.agent_link import AgentLink
from clawkeeper.monitor.collectors.base import CollectorError, CounterSet, counter_info, gauge, info
from clawkeeper.monitor.collectors.transcripts import (
    TranscriptBatch,
    TranscriptEvent,
    TranscriptReader,
    agent_databases,
)
from clawkeeper.monitor.model import CollectContext, MetricInfo, Sample

RATIO_WINDOW_S = 3600.0
FAILED_STOP_REASONS = frozenset({"error", "aborted"})
TOKEN_KINDS = {"input": "input", "output": "output", "cacheRead": "cache_read", "cacheWrite": "cache_write"}

METRICS: tuple[MetricInfo, ...] = (
    counter_info(
        "data_messages_total",
        "Messages: in = user messages, out = assistant replies that end a turn.",
        labels=("direction",),
    ),
    counter_info("data_replies_empty_total", "Replies with no text and no tool call (not failed)."),
    counter_info("data_replies_failed_total", "Replies that ended in an error or were aborted."),
    counter_info("data_tool_calls_total", "Tool calls the model made."),
    counter_info("data_tool_call_failures_total", "Tool results flagged as errors."),
    counter_info(
        "data_records_missing_fields_total", "Transcript records unreadable or missing required fields."
    ),
    info(
        "data_tool_call_failure_ratio",
        "Failed tool results / tool calls over the last hour (absent without calls).",
        unit="ratio",
    ),
    counter_info(
        "agent_tokens_total",
        "Tokens the agent's replies used, by kind (input, output, cache_read, cache_write).",
        labels=("kind",),
    ),
    counter_info("agent_cost_usd_total", "Cost in USD the agent reported for its replies.", unit="usd"),
)


@dataclass(frozen=True)
class Tally:
    """What one batch of transcript entries amounts to (pure; see `tally`)."""

    inbound: int = 0
    outbound: int = 0
    empty: int = 0
    failed: int = 0
    tool_calls: int = 0
    tool_failures: int = 0
    missing_fields: int = 0
    tokens: tuple[tuple[str, float], ...] = ()
    cost_usd: float = 0.0


def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(
            isinstance(item, Mapping) and item.get("type") == "text" and str(item.get("text") or "").strip()
            for item in content
        )
    return False


def _tool_calls(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for item in content if isinstance(item, Mapping) and item.get("type") == "toolCall")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def tally(events: Iterable[TranscriptEvent]) -> Tally:
    inbound = outbound = empty = failed = calls = call_failures = missing = 0
    tokens: dict[str, float] = {}
    cost = 0.0
    for entry in events:
        event = entry.event
        if event is None or not isinstance(event.get("type"), str):
            missing += 1
            continue
        if event["type"] != "message":
            continue
        message = event.get("message")
        role = message.get("role") if isinstance(message, Mapping) else None
        if not isinstance(message, Mapping) or not isinstance(role, str):
            missing += 1
            continue
        content = message.get("content")
        if role == "user":
            inbound += 1
            missing += content is None
        elif role == "assistant":
            stop = message.get("stopReason")
            if content is None or not isinstance(stop, str):
                missing += 1
            calls += _tool_calls(content)
            if stop != "toolUse":
                outbound += 1
                if stop in FAILED_STOP_REASONS or message.get("errorMessage"):
                    failed += 1
                elif not _has_text(content) and not _tool_calls(content):
                    empty += 1
            usage = message.get("usage")
            if isinstance(usage, Mapping):
                for key, kind in TOKEN_KINDS.items():
                    amount = _number(usage.get(key))
                    if amount:
                        tokens[kind] = tokens.get(kind, 0.0) + amount
                usage_cost = usage.get("cost")
                total = _number(usage_cost.get("total")) if isinstance(usage_cost, Mapping) else None
                cost += total or 0.0
        elif role == "toolResult":
            if content is None or not isinstance(message.get("toolCallId"), str):
                missing += 1
            call_failures += message.get("isError") is True
    return Tally(
        inbound=inbound,
        outbound=outbound,
        empty=empty,
        failed=failed,
        tool_calls=calls,
        tool_failures=call_failures,
        missing_fields=missing,
        tokens=tuple(sorted(tokens.items())),
        cost_usd=cost,
    )


class DataQualityCollector:
    name = "data_quality"
    metrics: Sequence[MetricInfo] = METRICS

    def __init__(self, read: Callable[[], TranscriptBatch]) -> None:
        self._read = read
        self._counters = CounterSet()
        self._counters.declare("data_messages_total", direction="in")
        self._counters.declare("data_messages_total", direction="out")
        for name in (
            "data_replies_empty_total",
            "data_replies_failed_total",
            "data_tool_calls_total",
            "data_tool_call_failures_total",
            "data_records_missing_fields_total",
            "agent_cost_usd_total",
        ):
            self._counters.declare(name)
        for kind in TOKEN_KINDS.values():
            self._counters.declare("agent_tokens_total", kind=kind)
        self._window: deque[tuple[float, int, int]] = deque()  # (collected at, calls, failures)

    @classmethod
    def for_agent(cls, link: AgentLink, **reader_options: Any) -> DataQualityCollector:
        reader = TranscriptReader(lambda: agent_databases(link.state_dir(), link.config()), **reader_options)
        return cls(reader.poll)

    def collect(self, ctx: CollectContext) -> list[Sample]:
        batch = self._read()
        if batch.failures and batch.databases == 0:
            where, why = next(iter(batch.failures.items()))
            raise CollectorError(
                f"cannot read the agent's transcripts in {where}: {why}",
                hint="the keeper needs read access to the agent's state directory (run it as that user)",
            )
        counts = tally(batch.events)
        add = self._counters.add
        add("data_messages_total", counts.inbound, direction="in")
        add("data_messages_total", counts.outbound, direction="out")
        add("data_replies_empty_total", counts.empty)
        add("data_replies_failed_total", counts.failed)
        add("data_tool_calls_total", counts.tool_calls)
        add("data_tool_call_failures_total", counts.tool_failures)
        add("data_records_missing_fields_total", counts.missing_fields)
        add("agent_cost_usd_total", counts.cost_usd)
        for kind, amount in counts.tokens:
            add("agent_tokens_total", amount, kind=kind)
        out = self._counters.samples(ctx.now)
        ratio = self._ratio(ctx.now, counts.tool_calls, counts.tool_failures)
        if ratio is not None:
            out.append(gauge("data_tool_call_failure_ratio", ratio, ctx.now))
        return out

    def _ratio(self, now: float, calls: int, failures: int) -> float | None:
        if calls or failures:
            self._window.append((now, calls, failures))
        while self._window and self._window[0][0] <= now - RATIO_WINDOW_S:
            self._window.popleft()
        total_calls = sum(c for _, c, _ in self._window)
        total_failures = sum(f for _, _, f in self._window)
        if total_calls <= 0:
            return None
        return min(1.0, total_failures / total_calls)
