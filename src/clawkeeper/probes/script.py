"""The probe model's script language: what a probe writes into a message, what the model reads.

A probe turn's message carries directives, one per line (anywhere on the line, because OpenClaw
prefixes the user text with a timestamp and appends a runtime footer):

    ck-probe nonce=<NONCE>          marks the turn as a probe turn (required)
    ck-call <tool> <json-args>      one tool call; several are issued in order, one per request
    ck-say <text>                   the final reply; `{results}` is replaced by the tool results

The model answers a marked turn by issuing the calls one per request and then the final reply
(`CK-OK <nonce> :: <results>` when there is no `ck-say`). Anything without the marker (heartbeats,
title generation, background reviews, a user typing to the probe agent) gets a short text reply
and never a tool call, so nothing can drive the model into a loop.

Standard library only: the model server imports this inside the lab's namespaces.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

MARKER = "ck-probe"
FINAL_PREFIX = "CK-OK"
ERROR_PREFIX = "CK-ERROR"
IDLE_REPLY = "CK-IDLE nothing to do"
RESULT_SEPARATOR = " || "

_NONCE_RE = re.compile(r"\bck-probe nonce=([A-Za-z0-9_-]{4,64})")
_CALL_RE = re.compile(r"\bck-call ([A-Za-z0-9_.:-]+) (\{.*\})[ \t]*$", re.MULTILINE)
_SAY_RE = re.compile(r"\bck-say (.+?)[ \t]*$", re.MULTILINE)


def new_nonce(prefix: str = "") -> str:
    """A unique, greppable token: probes look for it in replies, files and memory."""
    return f"{prefix}{secrets.token_hex(5).upper()}"


@dataclass(frozen=True)
class ToolStep:
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Script:
    nonce: str
    calls: tuple[ToolStep, ...] = ()
    say: str | None = None

    def render(self, preface: str = "") -> str:
        """The message a probe sends. `preface` is prose for a human reading the transcript."""
        lines = [preface.strip()] if preface.strip() else []
        lines.append(f"{MARKER} nonce={self.nonce}")
        lines.extend(
            f"ck-call {step.tool} {json.dumps(step.args, separators=(',', ':'))}" for step in self.calls
        )
        if self.say is not None:
            lines.append(f"ck-say {self.say}")
        return "\n".join(lines)

    def final_reply(self, results: list[str]) -> str:
        joined = RESULT_SEPARATOR.join(r.strip() for r in results)
        if self.say is not None:
            return self.say.replace("{results}", joined).replace("{nonce}", self.nonce)
        return f"{FINAL_PREFIX} {self.nonce} :: {joined}" if joined else f"{FINAL_PREFIX} {self.nonce}"


def parse(text: str) -> Script | None:
    """The script in a user message, or None when the message is not a probe turn."""
    marker = _NONCE_RE.search(text)
    if marker is None:
        return None
    calls: list[ToolStep] = []
    for match in _CALL_RE.finditer(text):
        try:
            args = json.loads(match.group(2))
        except ValueError:
            continue
        if isinstance(args, dict):
            calls.append(ToolStep(match.group(1), args))
    say = _SAY_RE.search(text)
    return Script(nonce=marker.group(1), calls=tuple(calls), say=say.group(1) if say else None)


def find_nonce(text: str) -> str | None:
    marker = _NONCE_RE.search(text)
    return marker.group(1) if marker else None
