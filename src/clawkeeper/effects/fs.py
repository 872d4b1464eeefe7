"""Writes to user state: temp file in the same directory, fsync, rename. Secrets stay 0600."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Create `path` (and parents) if missing; a new directory gets `mode`."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = PRIVATE_FILE) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a torn one."""
    atomic_write_chunks(path, (data,), mode=mode)


def atomic_write_chunks(
    path: Path, chunks: Iterable[bytes | memoryview], *, mode: int = PRIVATE_FILE, durable: bool = True
) -> None:
    """`atomic_write_bytes` of the concatenated `chunks`. `durable=False` skips the fsyncs: for
    caches whose readers check what they read, where a crash may lose the file but never tears
    it for a process that outlives the write."""
    ensure_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        tmp.chmod(mode)
        tmp.replace(path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str, *, mode: int = PRIVATE_FILE, durable: bool = True) -> None:
    atomic_write_chunks(path, (text.encode("utf-8"),), mode=mode, durable=durable)


def atomic_write_json(path: Path, value: Any, *, mode: int = PRIVATE_FILE) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n", mode=mode)


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
