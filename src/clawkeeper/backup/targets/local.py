"""A repository in a local folder (or any mounted filesystem).

Writes go to `.tmp-*` in the destination directory, are fsynced, renamed into place and the
directory fsynced, so a crash leaves either the whole object or a temp file that
`cleanup_temporaries` removes later. Objects are 0600 and directories 0700: a repository holds
encrypted secrets, and its layout still says how much and when.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from clawkeeper.backup.targets.base import ObjectInfo, ObjectMissing, TargetError
from clawkeeper.effects.fs import fsync_dir

TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700
MAX_OPEN_FILES = 64


class LocalTarget:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._fds: OrderedDict[str, list[int]] = OrderedDict()  # name -> [fd, readers using it]
        self._lock = threading.Lock()
        self._known_dirs: set[Path] = set()

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or name.startswith("/"):
            raise ValueError(f"invalid object name {name!r}")
        return self.root.joinpath(*parts)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            st = self._path(name).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TargetError(f"cannot stat {name} in {self.root}: {exc.strerror}") from exc
        return ObjectInfo(name=name, size=st.st_size, mtime=st.st_mtime)

    def read(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectMissing(f"{name} is missing from the repository at {self.root}") from exc
        except OSError as exc:
            raise TargetError(f"cannot read {name} in {self.root}: {exc.strerror}") from exc

    def _acquire(self, name: str) -> int:
        """An open descriptor for `name`, counted as in use until `_release`."""
        with self._lock:
            slot = self._fds.get(name)
            if slot is not None:
                self._fds.move_to_end(name)
                slot[1] += 1
                return slot[0]
            try:
                fd = os.open(self._path(name), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError as exc:
                raise ObjectMissing(f"{name} is missing from the repository at {self.root}") from exc
            except OSError as exc:
                raise TargetError(f"cannot open {name} in {self.root}: {exc.strerror}") from exc
            self._fds[name] = [fd, 1]
            self._evict()
            return fd

    def _release(self, name: str) -> None:
        with self._lock:
            slot = self._fds.get(name)
            if slot is not None:
                slot[1] -= 1
            self._evict()

    def _evict(self) -> None:
        # never close a descriptor another thread is reading through (its number could be reused)
        if len(self._fds) <= MAX_OPEN_FILES:
            return
        for old_name in list(self._fds):
            if len(self._fds) <= MAX_OPEN_FILES:
                break
            fd, users = self._fds[old_name]
            if users == 0:
                del self._fds[old_name]
                os.close(fd)

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        fd = self._acquire(name)
        try:
            data = os.pread(fd, length, offset)
        except OSError as exc:
            raise TargetError(f"cannot read {name} in {self.root}: {exc.strerror}") from exc
        finally:
            self._release(name)
        if len(data) != length:
            raise ObjectMissing(f"{name} is shorter than the index says (truncated?)")
        return data

    def read_range_into(self, name: str, offset: int, out: memoryview) -> None:
        """`read_range` of `len(out)` bytes into the caller's buffer (no allocation)."""
        fd = self._acquire(name)
        try:
            done = 0
            while done < len(out):
                got = os.preadv(fd, [out[done:]], offset + done)
                if got == 0:
                    raise ObjectMissing(f"{name} is shorter than the index says (truncated?)")
                done += got
        except OSError as exc:
            raise TargetError(f"cannot read {name} in {self.root}: {exc.strerror}") from exc
        finally:
            self._release(name)

    def _ensure_parent(self, path: Path) -> None:
        parent = path.parent
        if parent in self._known_dirs:
            return
        if not parent.is_dir():
            created: list[Path] = []
            probe = parent
            while not probe.exists():
                created.append(probe)
                probe = probe.parent
            parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            # a new directory entry is durable only once its own parent is synced
            for directory in reversed(created):
                fsync_dir(directory.parent)
        self._known_dirs.add(parent)

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self._put(name, data, durable=True)

    def write_volatile(self, name: str, data: bytes) -> None:
        """`write` without the fsyncs, for records that mean nothing after a crash (a running
        backup's liveness record dies with its process): still atomic (temp + rename), so a
        reader never sees half a record, but no flush to wait for."""
        self._put(name, data, durable=False)

    def _put(self, name: str, data: bytes | bytearray | memoryview, *, durable: bool) -> None:
        path = self._path(name)
        try:
            self._ensure_parent(path)
            tmp = path.parent / f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            try:
                tmp.replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            if durable:
                fsync_dir(path.parent)
        except OSError as exc:
            raise TargetError(
                f"cannot write {name} in {self.root}: {exc.strerror}", hint="check free space and permissions"
            ) from exc

    def create_exclusive(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        try:
            self._ensure_parent(path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:
            return False
        except OSError as exc:
            raise TargetError(f"cannot create {name} in {self.root}: {exc.strerror}") from exc
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
        return True

    def delete(self, name: str) -> bool:
        path = self._path(name)
        with self._lock:
            slot = self._fds.get(name)
            if slot is not None and slot[1] == 0:
                del self._fds[name]
                os.close(slot[0])
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise TargetError(f"cannot delete {name} in {self.root}: {exc.strerror}") from exc
        return True

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rstrip("/"))
        out: list[ObjectInfo] = []
        if not base.is_dir():
            return out
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for filename in sorted(filenames):
                if filename.startswith(TEMP_PREFIX):
                    continue
                try:
                    st = os.stat(f"{dirpath}/{filename}")  # noqa: PTH116 - hot loop, no Path objects
                except FileNotFoundError:
                    continue  # deleted while we listed (prune): it is gone either way
                out.append(ObjectInfo(name=f"{rel_dir}/{filename}", size=st.st_size, mtime=st.st_mtime))
        return out

    def cleanup_temporaries(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        removed = 0
        for dirpath, _dirnames, filenames in os.walk(self.root):
            for filename in filenames:
                if not filename.startswith(TEMP_PREFIX):
                    continue
                path = Path(dirpath) / filename
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            for fd, _users in self._fds.values():
                os.close(fd)
            self._fds.clear()
