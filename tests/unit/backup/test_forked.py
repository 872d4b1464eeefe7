"""Forked workers: they see the parent's state, and leaving early does not run every queued task."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from clawkeeper.backup import forked
from clawkeeper.backup.targets import LocalTarget


def _describe(item: int) -> tuple[int, str, int]:
    shared = forked.state()
    return os.getpid(), shared["label"], item * shared["factor"]


def _mark_slowly(item: int) -> None:
    folder: Path = forked.state()
    (folder / f"ran-{item}").touch()
    time.sleep(0.2)


def test_workers_are_other_processes_that_see_the_parents_state() -> None:
    with forked.pool(2, {"label": "repo", "factor": 3}) as executor:
        results = list(executor.map(_describe, range(6)))
    assert [r[2] for r in results] == [0, 3, 6, 9, 12, 15]  # in order, computed from the state
    assert {r[1] for r in results} == {"repo"}
    assert os.getpid() not in {r[0] for r in results}
    with pytest.raises(RuntimeError):
        forked.state()  # cleared once the pool is gone


def test_leaving_on_an_error_cancels_the_queued_tasks(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), forked.pool(2, tmp_path) as executor:
        for item in range(40):
            executor.submit(_mark_slowly, item)
        raise KeyboardInterrupt
    assert len(list(tmp_path.glob("ran-*"))) < 40


def test_only_local_repositories_and_more_than_one_worker_fork(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = LocalTarget(tmp_path)
    assert forked.usable(local, 2)
    assert not forked.usable(local, 1)
    assert not forked.usable(object(), 2)  # a remote target shares connections: threads there
    monkeypatch.setenv("CLAWKEEPER_NO_FORK", "1")
    assert not forked.usable(local, 2)
