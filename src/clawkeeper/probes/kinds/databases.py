"""`openclaw.databases`: the agent's SQLite databases open and pass SQLite's own quick check.

OpenClaw keeps shared state in `state/openclaw.sqlite` and one database per agent in
`agents/<id>/agent/openclaw-agent.sqlite`; a damaged one makes the gateway refuse to start (or
report not ready), which other probes only see as "connection refused". This probe names the
file. Databases are opened read-only through SQLite itself, which is safe next to a running
gateway (readers see a consistent snapshot; nothing is written).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from clawkeeper.probes.env import ProbeEnv
from clawkeeper.probes.kinds.base import KindInfo, KindParams, Measurement, Requirement, excerpt

PATTERNS = ("state/openclaw.sqlite", "agents/*/agent/openclaw-agent.sqlite")


class DatabasesParams(KindParams):
    patterns: list[str] = Field(
        default_factory=lambda: list(PATTERNS), description="globs under the state dir"
    )


def check_database(path: Path, timeout_s: float) -> str | None:
    """None when `path` opens and passes `PRAGMA quick_check`, else what is wrong."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    except sqlite3.Error as exc:
        return f"cannot be opened: {exc}"
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    verdicts = [str(r[0]) for r in rows]
    return None if verdicts == ["ok"] else "; ".join(verdicts[:3])


@dataclass(frozen=True)
class DatabasesProbe:
    params: DatabasesParams
    requires: frozenset[Requirement] = frozenset({Requirement.STATE_DIR})

    def measure(self, env: ProbeEnv, timeout_s: float) -> Measurement:
        state_dir = env.target.state_dir if env.target is not None else None
        assert state_dir is not None  # noqa: S101 - the runner checks requirements first
        paths = sorted(
            {p for pattern in self.params.patterns for p in state_dir.glob(pattern) if p.is_file()}
        )
        if not paths:
            return Measurement(
                result={"ok": True, "checked": [], "bad": []},
                evidence="no databases found",
                skip_reason=f"no OpenClaw databases under {state_dir}",
            )
        bad: list[dict[str, str]] = []
        for path in paths:
            problem = check_database(path, timeout_s=min(timeout_s, 10.0))
            if problem is not None:
                bad.append({"path": str(path.relative_to(state_dir)), "error": problem})
        described = "; ".join(f"{b['path']}: {excerpt(b['error'], 80)}" for b in bad[:3])
        return Measurement(
            result={"ok": not bad, "checked": [str(p.relative_to(state_dir)) for p in paths], "bad": bad},
            evidence=f"{len(paths)} database(s) checked, {len(bad)} damaged",
            problem=f"damaged database(s): {described}" if bad else None,
        )


KIND = KindInfo(
    "openclaw.databases",
    "the state and agent SQLite databases open and pass quick_check",
    DatabasesParams,
    DatabasesProbe,
)
