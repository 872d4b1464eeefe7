"""The storage interface the engine writes through: a flat namespace of immutable objects.

Names are `/`-separated relative keys (`data/3f/3f9a…`, `snapshots/…`). The engine needs only
what S3, SFTP and a local folder can all promise:

- `write` makes an object appear whole or not at all, and durable before it returns (writing an
  existing name replaces it atomically; the engine only does that for content-addressed names,
  where the bytes are the same, and for its own session and lock records);
- `create_exclusive` fails when the name exists (a local O_EXCL create, an SFTP exclusive open,
  an S3 conditional put) — used only for prune's own lock, never by backups;
- `read_range` reads part of an object (restore reads single blobs out of packs); a target may
  also offer `read_range_into(name, offset, out)`, the same into a caller's buffer (the local one
  does: restore reuses its buffers);
- `list` may be slow but is complete for objects whose `write` has returned;
- `cleanup_temporaries` removes leftovers of writes a crash interrupted (no-op where a write
  cannot leave any).

Retries belong in a wrapper around a target, not inside each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clawkeeper.errors import EnvironmentProblem, NotFound


class TargetError(EnvironmentProblem):
    """The storage behind a repository failed (I/O error, permission, unreachable)."""


class ObjectMissing(NotFound):
    """A named object does not exist in the target."""


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    mtime: float


class BackupTarget(Protocol):
    """Where a repository's objects live."""

    @property
    def location(self) -> str:
        """Human-readable location (path or URL without credentials)."""
        ...

    def exists(self, name: str) -> bool: ...

    def stat(self, name: str) -> ObjectInfo | None: ...

    def read(self, name: str) -> bytes: ...

    def read_range(self, name: str, offset: int, length: int) -> bytes: ...

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None: ...

    def create_exclusive(self, name: str, data: bytes) -> bool: ...

    def delete(self, name: str) -> bool: ...

    def list(self, prefix: str) -> list[ObjectInfo]: ...

    def cleanup_temporaries(self, older_than_s: float) -> int: ...

    def close(self) -> None: ...
