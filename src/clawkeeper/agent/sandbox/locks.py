"""Advisory file locks (flock) that serialise lab changes across clawkeeper processes.

The kernel drops a flock when its holder dies, even by SIGKILL, so an interrupted `lab up` never
leaves a lock behind. Children do not inherit it (subprocesses close inherited descriptors).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from clawkeeper.effects.fs import ensure_dir
from clawkeeper.errors import ResourceConflict


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(path.read_text().strip() or "0")
        if pid:
            return f"pid {pid}"
    return "another process"


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    what: str,
    wait_s: float = 0.0,
    on_wait: Callable[[float], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block.

    Waits up to `wait_s` (calling `on_wait(elapsed)` about once a second), then raises
    ResourceConflict naming the holder's PID when it is known.
    """
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                elapsed = time.monotonic() - started
                if elapsed >= wait_s:
                    raise ResourceConflict(
                        f"{what} is busy: {_holder(path)} is working on it",
                        hint="wait for that clawkeeper command to finish, then retry",
                    ) from None
                if on_wait is not None:
                    on_wait(elapsed)
                time.sleep(min(1.0, max(0.05, wait_s - elapsed)))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
