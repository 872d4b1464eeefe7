"""Where repositories live. `open_target` turns a location into a `BackupTarget`."""

from __future__ import annotations

from pathlib import Path

from clawkeeper.backup.targets.base import BackupTarget, ObjectInfo, ObjectMissing, TargetError
from clawkeeper.backup.targets.local import LocalTarget
from clawkeeper.errors import UsageError

__all__ = ["BackupTarget", "LocalTarget", "ObjectInfo", "ObjectMissing", "TargetError", "open_target"]


def open_target(location: str | Path) -> BackupTarget:
    """A target for `location`: a filesystem path (or `file://` URL) for now; sftp:// and s3:// later."""
    text = str(location)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise UsageError(
            f"repository scheme {scheme}:// is not supported yet",
            hint="use a local path; SFTP and S3 targets are planned",
        )
    return LocalTarget(Path(text).expanduser())
