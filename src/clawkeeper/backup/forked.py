"""Forked worker processes for CPU-bound passes over a local repository.

AES-GCM, zstd and BLAKE3 release the GIL, but the Python around each blob does not, and a
repository holds tens of thousands of small blobs (a 100 MB database alone is 25,000 pages):
threads reach ~1.25x on two cores, forked processes ~2x. Workers are forked, so they start in
milliseconds and inherit what the parent already loaded (the unlocked repository, the index);
tasks and results cross the process boundary, the shared state does not.

Only for local repositories: a forked child must not share a network connection (SSH, HTTP
pools) with its parent. Callers fall back to threads when `usable` says no.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from clawkeeper.backup.targets.local import LocalTarget

_state: Any = None


def usable(target: object, workers: int) -> bool:
    """Fork workers here? Local repository, more than one worker wanted, and `fork` available."""
    return (
        workers > 1
        and isinstance(target, LocalTarget)
        and "fork" in multiprocessing.get_all_start_methods()
        and os.environ.get("CLAWKEEPER_NO_FORK") is None
    )


def state() -> Any:
    """What the parent handed to `pool` (inside a worker, the forked copy of it)."""
    if _state is None:
        raise RuntimeError("forked.state() outside a forked.pool()")
    return _state


@contextlib.contextmanager
def pool(workers: int, shared: Any) -> Iterator[Executor]:
    """A process pool whose workers see `shared` through `state()`.

    The workers are forked before the pool starts its own threads. Other threads of the parent
    (a progress bar's refresher) keep running in the parent only; workers touch nothing of theirs.
    """
    global _state
    _state = shared
    try:
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork() in a process with threads; ours don't cross it
                warnings.simplefilter("ignore", DeprecationWarning)
                executor.submit(os.getpid).result()  # forks every worker now, with `_state` set
            yield executor
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)  # not every queued pack (Ctrl-C)
            raise
        executor.shutdown(wait=True)
    finally:
        _state = None
