"""What a snapshot records about the OpenClaw it came from, asked from a fake `openclaw`."""

from __future__ import annotations

import sys
from pathlib import Path

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.openclaw_facts import openclaw_facts
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.snapshots import load_snapshot
from clawkeeper.backup.sources import openclaw_sources


def fake_openclaw(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "bin" / "openclaw"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    script.chmod(0o755)
    return script


def test_the_snapshot_records_the_version_the_cli_reports(
    repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    binary = fake_openclaw(tmp_path, "print('OpenClaw 2026.9.6 (eb377ac)')")
    target = OpenClawTarget(
        label="live", binary=binary, state_dir=agent_state, config_path=agent_state / "openclaw.json"
    )
    facts = openclaw_facts(target)
    assert facts.meta == {
        "agent": "openclaw",
        "target": "live",
        "openclaw_version": "2026.9.6",
        "openclaw_commit": "eb377ac",
    }
    snap = create_snapshot(repo, openclaw_sources(facts.paths), options=None).snapshot
    stored = load_snapshot(repo, snap.id)
    assert stored.roots == [{"path": str(agent_state.resolve()), "role": "state_dir"}]


def test_a_cli_that_does_not_answer_is_a_warning_not_a_failure(agent_state: Path, tmp_path: Path) -> None:
    binary = fake_openclaw(tmp_path, "sys.stderr.write('boom\\n'); sys.exit(3)")
    facts = openclaw_facts(OpenClawTarget(label="live", binary=binary, state_dir=agent_state))
    assert "openclaw_version" not in facts.meta
    assert facts.warnings and "gave no version" in facts.warnings[0]
    missing = openclaw_facts(OpenClawTarget(label="live", binary=tmp_path / "nope", state_dir=agent_state))
    assert missing.warnings and "could not ask" in missing.warnings[0]
    assert missing.paths.state_dir == agent_state
