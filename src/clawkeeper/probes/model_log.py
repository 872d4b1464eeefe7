"""Reading the probe model's request log: what the agent really sent to the model.

The server (in this process or inside the lab's namespaces) appends one JSON object per request
to a JSONL file; probes find the requests of their turn by its nonce. A torn last line (the
server is writing it right now) is skipped, not an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelLog:
    path: Path

    def records(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            # the server's own lines (the ready line) are not requests
            if isinstance(value, dict) and "path" in value:
                out.append(value)
        return out

    def for_nonce(self, nonce: str) -> list[dict[str, Any]]:
        """The chat requests of the turn marked with `nonce`, in arrival order."""
        return [r for r in self.records() if r.get("nonce") == nonce]

    def count(self) -> int:
        return len(self.records())


def tool_results(requests: list[dict[str, Any]]) -> list[str]:
    """The tool results the agent sent back during a turn (the last request carries them all)."""
    if not requests:
        return []
    results = requests[-1].get("tool_results")
    return [str(r) for r in results] if isinstance(results, list) else []


def offered(requests: list[dict[str, Any]]) -> list[str]:
    if not requests:
        return []
    tools = requests[0].get("tools")
    return [str(t) for t in tools] if isinstance(tools, list) else []


def decisions(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["decision"] for r in requests if isinstance(r.get("decision"), dict)]
