"""The private folder a backup stages database images in, and the ones killed backups left.

A backup's images are plaintext copies of the agent's databases (0600, in a 0700 folder). The
folder is removed when the backup ends, but a backup killed with SIGKILL (or by a power loss)
leaves it behind, with whatever image it held. Each folder is named after its backup's PID, so
the next backup removes the folders of backups that are gone; it waits until a folder has been
untouched for `QUIET_S`, in case its backup runs in another PID namespace. Folders named
without a PID (earlier releases) are removed once untouched for `STALE_S`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from clawkeeper.effects.proc import pid_alive

PREFIX = "clawkeeper-backup-"
QUIET_S = 10 * 60
STALE_S = 24 * 3600


@contextlib.contextmanager
def scratch_folder(parent: Path | None) -> Iterator[Path]:
    """A new private folder below `parent` (default: the system temp dir), removed afterwards;
    stale folders of earlier backups are removed first."""
    base = parent if parent is not None else Path(tempfile.gettempdir())
    remove_stale(base)
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-", dir=base) as path:
        yield Path(path)


def remove_stale(base: Path, now: float | None = None) -> int:
    """Remove this user's scratch folders below `base` that no running backup uses."""
    now = time.time() if now is None else now
    removed = 0
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(PREFIX)]
    except OSError:
        return 0
    for path in candidates:
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        idle = now - st.st_mtime
        pid = _pid_of(path.name)
        stale = idle > STALE_S if pid is None else idle > QUIET_S and not pid_alive(pid)
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    return removed


def _pid_of(name: str) -> int | None:
    """The PID in `clawkeeper-backup-<pid>-<random>` (tempfile's random part has no "-")."""
    head, dash, _rest = name[len(PREFIX) :].partition("-")
    return int(head) if dash and head.isdigit() else None
