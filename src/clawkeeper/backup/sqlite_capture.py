"""Consistent copies of live SQLite databases, through SQLite's online backup API.

Copying a live WAL-mode file misses every commit still in `-wal` (measured: a `cp` of an agent
database had no tables at all). The backup API instead copies a transactionally consistent image
as of the moment the step starts, while the agent keeps writing: in WAL mode a reader blocks no
writer. One step copies everything (`pages=-1`), so the copy never restarts under a busy writer.

The source is opened read-only, so closing our connection never checkpoints or deletes the live
`-wal`. (A read-only reader may create an empty `-wal`/`-shm`, as any reader would.) The image
is page-identical to the source, which is what makes page-aligned chunking dedup well.

The image is a scratch file that is read once and deleted, so it is written with no journal and
no fsync (`journal_mode=OFF`, `synchronous=OFF`): a crash loses nothing but the scratch file.
Syncing it made the capture three times slower (measured 0.42 s vs 0.15 s for 100 MB) and wrote
100 MB to disk only to free it again a second later.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")
BUSY_TIMEOUT_S = 30.0
MIN_CHUNK = 4096  # group tiny pages so a chunk is never smaller than this


class CaptureFailed(Exception):
    """The database could not be opened or copied (locked, corrupt, not a database)."""


@dataclass(frozen=True)
class CapturedDatabase:
    source: Path
    image: Path
    size: int
    page_size: int
    page_count: int
    user_version: int
    journal_mode: str
    quick_check: str | None  # "ok", the first problem found, or None when not run

    @property
    def chunk_size(self) -> int:
        """Chunks are whole pages: one page, or a few small ones."""
        return self.page_size * max(1, MIN_CHUNK // self.page_size)

    def to_json(self) -> dict[str, object]:
        return {
            "page_size": self.page_size,
            "page_count": self.page_count,
            "user_version": self.user_version,
            "journal_mode": self.journal_mode,
            "quick_check": self.quick_check,
        }


def is_sqlite_file(path: Path) -> bool:
    """True when `path` starts with the SQLite header (an empty or unreadable file is not one)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def sidecar_of(name: str) -> str | None:
    """For `x.sqlite-wal` return `x.sqlite`; None if `name` is not a sidecar name."""
    for suffix in SIDECAR_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def source_signature(path: Path) -> str | None:
    """A fingerprint of the database file and its WAL: equal means nothing was committed since.

    Every commit grows or rewrites the WAL (or, after a checkpoint, the main file), so equal size,
    mtime and inode of both mean the captured image is still current. The WAL's ctime is left
    out because merely opening a database read-only touches it; an empty WAL counts as none.
    """
    try:
        st = path.stat()
    except OSError:
        return None
    main = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
    try:
        wal_st = path.with_name(path.name + "-wal").stat()
    except FileNotFoundError:
        return f"sqlite|{main}|-"
    except OSError:
        return None
    wal = "-" if wal_st.st_size == 0 else f"{wal_st.st_size}:{wal_st.st_mtime_ns}:{wal_st.st_ino}"
    return f"sqlite|{main}|{wal}"


def _open_source(path: Path) -> sqlite3.Connection:
    quoted = urllib.parse.quote(str(path))
    try:
        conn = sqlite3.connect(f"file:{quoted}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.Error as first:
        # A read-only directory cannot hold a new -shm. With no WAL present there is no writer,
        # so reading the file as immutable is safe; otherwise give up rather than guess.
        if path.with_name(path.name + "-wal").exists():
            raise CaptureFailed(f"cannot open {path} read-only: {first}") from first
        try:
            conn = sqlite3.connect(f"file:{quoted}?mode=ro&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.Error as exc:
            raise CaptureFailed(f"cannot open {path} read-only: {exc}") from exc


def capture(source: Path, image: Path, *, quick_check: bool = True) -> CapturedDatabase:
    """Copy `source` into the new file `image` with the backup API and describe the copy."""
    if image.exists():
        raise FileExistsError(image)
    try:
        return _capture(source, image, quick_check)
    except sqlite3.Error as exc:
        raise CaptureFailed(f"cannot copy {source}: {exc}") from exc
    except OSError as exc:
        raise CaptureFailed(f"cannot stage a copy of {source} in {image.parent}: {exc.strerror}") from exc


def _capture(source: Path, image: Path, quick_check: bool) -> CapturedDatabase:
    src = _open_source(source)
    try:
        dst = sqlite3.connect(image)
        try:
            # scratch file: no rollback journal, no fsync (see the module docstring)
            dst.execute("PRAGMA journal_mode=OFF")
            dst.execute("PRAGMA synchronous=OFF")
            try:
                src.backup(dst, pages=-1)
            except sqlite3.Error as exc:
                raise CaptureFailed(f"backup API failed for {source}: {exc}") from exc
            page_size = int(dst.execute("PRAGMA page_size").fetchone()[0])
            page_count = int(dst.execute("PRAGMA page_count").fetchone()[0])
            user_version = int(dst.execute("PRAGMA user_version").fetchone()[0])
            journal_mode = str(dst.execute("PRAGMA journal_mode").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
    # the image is a private copy: never leave secrets world-readable in the scratch dir
    with contextlib.suppress(OSError):
        image.chmod(0o600)
    for suffix in SIDECAR_SUFFIXES:
        with contextlib.suppress(FileNotFoundError):
            image.with_name(image.name + suffix).unlink()
    check = check_image(image) if quick_check else None
    return CapturedDatabase(
        source=source,
        image=image,
        size=os.stat(image).st_size,  # noqa: PTH116
        page_size=page_size,
        page_count=page_count,
        user_version=user_version,
        journal_mode=journal_mode,
        quick_check=check,
    )


def check_image(image: Path) -> str:
    """`PRAGMA quick_check` of a captured image: "ok" or the first problem found.

    Separate from `capture` so a backup can check one image while it chunks the same image on
    another thread (both only read it; SQLite runs the check without holding the GIL)."""
    return integrity_check(image, quick=True)


def integrity_check(path: Path, *, quick: bool = False) -> str:
    """`PRAGMA integrity_check` (or `quick_check`) of a restored database: "ok" or the first problem.

    Opened immutable: a freshly restored file has no WAL and no other user, and this way the
    check leaves no `-wal`/`-shm` behind in the restore target. (Not read through mmap, though
    that is twice as fast: mapped pages count as the process's memory, a whole database's worth.)
    """
    quoted = urllib.parse.quote(str(path))
    pragma = "quick_check" if quick else "integrity_check"
    try:
        conn = sqlite3.connect(f"file:{quoted}?mode=ro&immutable=1", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"
    try:
        rows = conn.execute(f"PRAGMA {pragma}(1)").fetchall()
    except sqlite3.Error as exc:
        return f"{pragma} failed: {exc}"
    finally:
        conn.close()
    return str(rows[0][0]) if rows else "no result"
