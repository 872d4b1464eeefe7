"""Private SQLite files for data a command would otherwise hold in memory (the master index,
the parent snapshot's file list).

Each lives in a new 0700 folder under the temporary directory and is removed, by the process
that made it, when its owner object is garbage-collected (or at exit). The folder is named like
a backup's scratch folder (`scratch.PREFIX` and the PID), so one left by a killed command is
removed by the next command once its process is gone (`scratch.remove_stale`). No journal and no fsync:
the data is rebuilt by the next command, never recovered. The page cache is bounded
(`CACHE_KIB` per connection), which is what keeps a command's memory flat as the agent grows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path

from clawkeeper.backup import scratch

CACHE_KIB = 2048

_swept = False  # stale folders of killed commands removed once per process


def _remove(folder: str, owner: int) -> None:
    if os.getpid() == owner:  # never from a forked worker: the parent still uses the file
        shutil.rmtree(folder, ignore_errors=True)


def connect(path: str, *, write: bool) -> sqlite3.Connection:
    """A connection to a scratch file (read-only ones are for forked workers)."""
    if write:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
    else:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return db


def create(
    owner: object, purpose: str, schema: str, *, seed: Callable[[str], None] | None = None
) -> tuple[str, sqlite3.Connection, Callable[[], None]]:
    """A new scratch file with `schema`, or as `seed(path)` writes it (a copy of a kept one):
    (its path, a writing connection, the finalizer that removes it, which `owner`'s collection
    also runs)."""
    global _swept
    if not _swept:
        _swept = True
        scratch.remove_stale(Path(tempfile.gettempdir()))
    folder = tempfile.mkdtemp(prefix=f"{scratch.PREFIX}{os.getpid()}-", suffix=f"-{purpose}")
    path = str(Path(folder) / "data.sqlite")
    if seed is not None:
        try:
            seed(path)
        except BaseException:
            _remove(folder, os.getpid())
            raise
    db = connect(path, write=True)
    if seed is None:
        db.executescript(schema)
    return path, db, weakref.finalize(owner, _remove, folder, os.getpid())
