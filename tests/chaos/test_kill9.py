"""The reduced CI form of tests/chaos/kill9.py: ten kill -9 trials of backups and prunes."""

from __future__ import annotations

import os
from pathlib import Path

from .kill9 import run_trials


def test_kill9_during_backup_and_prune_never_breaks_the_repository(tmp_path: Path) -> None:
    seed = int(os.environ.get("CLAWKEEPER_CHAOS_SEED", "20261122"))
    trials = int(os.environ.get("CLAWKEEPER_CHAOS_TRIALS", "10"))
    outcome = run_trials(trials, seed, tmp_path)
    assert outcome.failures == [], f"seed {seed}: {outcome.failures}"
    assert outcome.trials == trials
    assert outcome.killed >= trials // 3  # the trials really did kill operations midway
