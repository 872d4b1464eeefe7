"""Where repositories live. `open_target` turns a location into a `BackupTarget`.

A location is a local path (or `file://` URL), `sftp://[user@]host[:port]/path` or
`s3://bucket[/prefix]`. Remote targets are wrapped in `RetryingTarget`. paramiko and boto3 are
imported only when such a repository is opened: every clawkeeper command loads this module.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

from clawkeeper.backup.targets.base import BackupTarget, ObjectInfo, ObjectMissing, TargetError
from clawkeeper.backup.targets.local import LocalTarget
from clawkeeper.errors import UsageError

if TYPE_CHECKING:
    from clawkeeper.backup.settings import BackupSettings

__all__ = [
    "BackupTarget",
    "LocalTarget",
    "ObjectInfo",
    "ObjectMissing",
    "S3Location",
    "SftpLocation",
    "TargetError",
    "describe",
    "is_remote",
    "open_target",
    "parse_s3",
    "parse_sftp",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class SftpLocation:
    user: str
    host: str
    port: int
    path: str  # absolute, or relative to the login folder

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        shown = self.path if self.path.startswith("/") else f"/~/{self.path}"
        return f"sftp://{self.user}@{host}:{self.port}{shown}"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ends with "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def scheme_of(location: str) -> str | None:
    match = _SCHEME.match(location)
    return match.group(1).lower() if match else None


def is_remote(location: str | Path) -> bool:
    return scheme_of(str(location)) in ("sftp", "s3")


def parse_sftp(location: str) -> SftpLocation:
    """`sftp://[user@]host[:port]/path`: `/srv/b` is absolute, `/~/b` is below the login folder."""
    example = "sftp://backup@nas.example:22/srv/clawkeeper"
    parts = _split(location, example)
    if parts.password is not None:
        raise UsageError(
            f"the repository URL {_redact(location)} contains a password",
            hint="SFTP repositories log in with a key (SSH agent or backup.sftp.identity_file)",
        )
    try:
        port = parts.port or 22
    except ValueError as exc:
        raise UsageError(f"bad port in repository URL {location}", hint=f"write it as {example}") from exc
    if not parts.hostname:
        raise UsageError(f"no host in repository URL {location}", hint=f"write it as {example}")
    if parts.query or parts.fragment:
        raise UsageError(f"unexpected ?/# in repository URL {location}", hint=f"write it as {example}")
    path = unquote(parts.path)
    if path.startswith("/~/"):
        path = path[3:].strip("/")
    elif path.startswith("/"):
        path = "/" + path.strip("/")
    if path in ("", "/", "~"):
        raise UsageError(
            f"repository URL {location} names no folder",
            hint=f"add the folder: {example} (absolute) or sftp://host/~/clawkeeper (below the login folder)",
        )
    if any(part in (".", "..") for part in path.split("/")):
        raise UsageError(f"repository URL {location} contains . or ..", hint="write the folder without them")
    user = unquote(parts.username) if parts.username else getpass.getuser()
    return SftpLocation(user=user, host=parts.hostname, port=port, path=path)


def parse_s3(location: str) -> S3Location:
    """`s3://bucket[/prefix]`; the server comes from `backup.s3.endpoint_url` (AWS when empty)."""
    example = "s3://my-bucket/clawkeeper"
    parts = _split(location, example)
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"the repository URL {_redact(location)} contains credentials",
            hint="give S3 keys in $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or backup.s3.credentials_file",
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(
            f"{bucket!r} in {location} is not a valid S3 bucket name",
            hint=f"write it as {example}; the server goes in backup.s3.endpoint_url",
        )
    if parts.query or parts.fragment:
        raise UsageError(f"unexpected ?/# in repository URL {location}", hint=f"write it as {example}")
    prefix = unquote(parts.path).strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise UsageError(
            f"repository URL {location} has an empty, . or .. folder", hint=f"write it as {example}"
        )
    return S3Location(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


def _split(location: str, example: str) -> SplitResult:
    try:
        return urlsplit(location)
    except ValueError as exc:  # an unclosed [ of an IPv6 address
        raise UsageError(
            f"repository URL {_redact(location)} is malformed: {exc}", hint=f"write it as {example}"
        ) from None


def _redact(location: str) -> str:
    """`location` with whatever stands before `@` in its host part replaced by `***`."""
    scheme, sep, rest = location.partition("://")
    host, slash, path = rest.partition("/")
    if not sep or "@" not in host:
        return location
    return f"{scheme}://***@{host.rsplit('@', 1)[1]}{slash}{path}"


def describe(location: str | Path) -> str:
    """The location as shown to users and stored in the ledger: never with a password, and never
    an error, even for a location `open_target` would refuse."""
    text = str(location)
    scheme = scheme_of(text)
    try:
        if scheme == "sftp":
            return str(parse_sftp(text))
        if scheme == "s3":
            return str(parse_s3(text))
    except UsageError:
        pass
    return _redact(text) if scheme else str(Path(text).expanduser())


def open_target(location: str | Path, settings: BackupSettings | None = None) -> BackupTarget:
    """A target for `location`; remote ones take their options from `settings` (defaults if None).

    Opening is lazy: a remote target connects on its first call, so an unreachable server shows
    up as `TargetError` from the first operation, with a hint.
    """
    text = str(location)
    scheme = scheme_of(text)
    if scheme is None:
        return LocalTarget(Path(text).expanduser())
    if scheme == "file":
        return LocalTarget(Path(text[len("file://") :]).expanduser())
    from clawkeeper.backup.settings import BackupSettings  # pydantic: only remote targets need it

    chosen = settings if settings is not None else BackupSettings()
    if scheme == "sftp":
        from clawkeeper.backup.targets.retry import RetryingTarget
        from clawkeeper.backup.targets.sftp import SftpTarget

        return RetryingTarget(SftpTarget(parse_sftp(text), chosen.sftp))
    if scheme == "s3":
        from clawkeeper.backup.targets.s3 import S3Target

        # botocore retries S3 calls itself (standard mode); a second layer would only multiply them
        return S3Target(parse_s3(text), chosen.s3)
    raise UsageError(
        f"repository scheme {scheme}:// is not supported",
        hint="use a local path, sftp://user@host/path or s3://bucket/prefix",
    )
