"""A repository in an S3 bucket (AWS, or any S3-compatible server: MinIO, Garage, R2, ...).

Every object is one PUT, which S3 makes visible whole or not at all, so there are no temporary
objects. Packs are about 16 MiB (`packs.DEFAULT_PACK_SIZE`), far below the 5 GiB a single PUT
may carry, so multipart uploads (and their leftovers) are never used. Each PUT carries a
Content-MD5 that the server checks; botocore's newer default checksums are turned off because
several S3-compatible servers reject them.

`create_exclusive` is a conditional PUT (`If-None-Match: *`), which AWS S3, MinIO and R2
honour. A server that ignores the condition would let two prunes both take the prune lock;
such servers are not supported for pruning.

Credentials never come from the config file: `backup.s3.credentials_file` (an INI file like
~/.aws/credentials, refused unless private to its owner) or `$AWS_ACCESS_KEY_ID` /
`$AWS_SECRET_ACCESS_KEY` (/ `$AWS_SESSION_TOKEN`). botocore's own search (instance metadata,
SSO, credential_process) is not used, so nothing is asked of the network but the endpoint.
Connection failures and throttling are retried by botocore (standard mode).
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
from botocore.config import Config

from clawkeeper.backup.settings import S3Settings
from clawkeeper.backup.targets import S3Location
from clawkeeper.backup.targets.base import ObjectInfo, ObjectMissing, TargetError
from clawkeeper.backup.targets.readahead import ReadWindows
from clawkeeper.backup.targets.retry import TargetUnreachable
from clawkeeper.errors import ClawkeeperError, CredentialsError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

ATTEMPTS = 4  # botocore's count includes the first try
CONFLICT_RETRIES = 3
LIST_PAGE_SIZE = 1000  # S3's maximum
CREDENTIAL_ERRORS = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidClientTokenId",
        "AuthorizationHeaderMalformed",
    }
)
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
TAKEN = frozenset({"PreconditionFailed", "412"})
DENIED = frozenset({"403"})
DENIED_HINT = "check the credentials, and that they may list, read, write and delete in the bucket"
CONFLICT = frozenset({"ConditionalRequestConflict", "409"})


class _Handled(Exception):
    """An error code the caller asked to handle itself (a missing object, a taken name)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def load_credentials(settings: S3Settings, env: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(access key id, secret, session token) from the credentials file or the environment."""
    if settings.credentials_file is not None:
        path = settings.credentials_file.expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CredentialsError(
                f"S3 credentials file {path} does not exist",
                hint="fix backup.s3.credentials_file, or leave it empty to use $AWS_ACCESS_KEY_ID",
            ) from None
        except OSError as exc:
            raise CredentialsError(f"cannot read S3 credentials file {path}: {exc.strerror}") from None
        if mode & 0o077:
            raise CredentialsError(
                f"S3 credentials file {path} is readable by other users", hint=f"chmod 600 {path}"
            )
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as exc:
            raise CredentialsError(
                f"S3 credentials file {path} is not an INI file: {type(exc).__name__}",
                hint="write it like ~/.aws/credentials: [default], aws_access_key_id, aws_secret_access_key",
            ) from None
        section = settings.profile
        key_id = parser.get(section, "aws_access_key_id", fallback=None)
        secret = parser.get(section, "aws_secret_access_key", fallback=None)
        if not key_id or not secret:
            raise CredentialsError(
                f"S3 credentials file {path} lacks aws_access_key_id or aws_secret_access_key in [{section}]",
                hint="add them, or set backup.s3.profile to the section that has them",
            )
        return key_id.strip(), secret.strip(), parser.get(section, "aws_session_token", fallback=None)
    key_id = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise CredentialsError(
            "no S3 credentials",
            hint="set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, or backup.s3.credentials_file (0600)",
        )
    return key_id, secret, env.get("AWS_SESSION_TOKEN") or None


class S3Target:
    def __init__(
        self, where: S3Location, settings: S3Settings, *, env: Mapping[str, str] | None = None
    ) -> None:
        self.where = where
        self.settings = settings
        self._env = os.environ if env is None else env
        self._client: S3Client | None = None
        self._lock = threading.Lock()
        self._windows = ReadWindows(self._fetch_range)

    @property
    def location(self) -> str:
        return str(self.where)

    @property
    def server(self) -> str:
        return self.settings.endpoint_url or f"AWS S3 ({self._region()})"

    def _region(self) -> str:
        return (
            self.settings.region
            or self._env.get("AWS_REGION")
            or self._env.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )

    def _key(self, name: str) -> str:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or name.startswith("/"):
            raise ValueError(f"invalid object name {name!r}")
        return f"{self.where.prefix}{name}"

    def _s3(self) -> S3Client:
        with self._lock:
            if self._client is None:
                key_id, secret, token = load_credentials(self.settings, self._env)
                config = Config(
                    region_name=self._region(),
                    connect_timeout=self.settings.connect_timeout,
                    read_timeout=self.settings.read_timeout,
                    retries={"max_attempts": ATTEMPTS, "mode": "standard"},
                    s3={"addressing_style": self.settings.addressing_style},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    user_agent_extra="clawkeeper",
                )
                try:
                    session = boto3.session.Session(
                        aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        aws_session_token=token,
                        region_name=self._region(),
                    )
                    self._client = session.client(
                        "s3", endpoint_url=self.settings.endpoint_url, config=config
                    )
                except botocore.exceptions.BotoCoreError as exc:  # a broken ~/.aws/config, a bad $AWS_PROFILE
                    raise TargetError(
                        f"cannot set up the S3 client for {self.location}: {exc}",
                        hint="fix the AWS configuration named in the message",
                    ) from None
            return self._client

    # errors ---------------------------------------------------------------------------------
    def _error(self, exc: Exception, doing: str) -> ClawkeeperError:
        """One clear error for a failed call; never includes a credential."""
        if isinstance(exc, botocore.exceptions.ClientError):
            code, status = _code(exc)
            if code == "NoSuchBucket":
                return TargetError(
                    f"bucket {self.where.bucket} does not exist on {self.server}",
                    hint="create it first (clawkeeper never creates buckets), or fix the repository URL",
                )
            if code in CREDENTIAL_ERRORS:
                return CredentialsError(
                    f"{self.server} rejected the S3 credentials ({code})",
                    hint="check $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or backup.s3.credentials_file",
                )
            if code == "AccessDenied" or status == 403:
                return CredentialsError(
                    f"{self.server} denied access to {self.location} while trying to {doing} ({code})",
                    hint=DENIED_HINT,
                )
            if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
                return TargetUnreachable(
                    f"{self.server} failed to {doing} in {self.location} ({code or status})",
                    hint="the server is overloaded or failing; try again later",
                )
            message = str(exc.response.get("Error", {}).get("Message", "")) or code
            return TargetError(f"cannot {doing} in {self.location}: {message} ({code or status})")
        if isinstance(
            exc,
            botocore.exceptions.EndpointConnectionError
            | botocore.exceptions.ConnectTimeoutError
            | botocore.exceptions.ReadTimeoutError
            | botocore.exceptions.ConnectionClosedError,
        ):
            return TargetUnreachable(
                f"cannot reach the S3 server at {self.server}: {type(exc).__name__}",
                hint="check that the server is running and backup.s3.endpoint_url",
            )
        return TargetError(f"cannot {doing} in {self.location}: {type(exc).__name__}: {exc}")

    def _call(
        self, doing: str, operation: str, *, handled: frozenset[str] = frozenset(), **params: Any
    ) -> Any:
        """`operation` on the bucket; an error whose code is in `handled` raises `_Handled`."""
        client = self._s3()
        try:
            return getattr(client, operation)(Bucket=self.where.bucket, **params)
        except botocore.exceptions.ClientError as exc:
            code, status = _code(exc)
            if code in handled or str(status) in handled:
                raise _Handled(code or str(status)) from None
            raise self._error(exc, doing) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._error(exc, doing) from None

    # BackupTarget ---------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.stat(name) is not None

    def stat(self, name: str) -> ObjectInfo | None:
        try:
            head = self._call(f"stat {name}", "head_object", handled=MISSING | DENIED, Key=self._key(name))
        except _Handled as exc:
            if exc.code in MISSING:
                return None
            # a HEAD answer has no body, so no reason: ask again with a GET of one byte, whose
            # error says whether the key, the signature or a policy is wrong
            try:
                self._get(name, Range="bytes=0-0")
            except ObjectMissing:
                return None
            raise CredentialsError(
                f"{self.server} denied access to {self.location} while trying to stat {name}",
                hint=DENIED_HINT,
            ) from None
        return ObjectInfo(name=name, size=int(head["ContentLength"]), mtime=head["LastModified"].timestamp())

    def _get(self, name: str, handled: frozenset[str] = frozenset(), **params: Any) -> bytes:
        try:
            response = self._call(
                f"read {name}", "get_object", handled=handled | MISSING, Key=self._key(name), **params
            )
        except _Handled as exc:
            if exc.code in MISSING:
                raise ObjectMissing(f"{name} is missing from the repository at {self.location}") from None
            raise
        body = response["Body"]
        try:
            data: bytes = body.read()
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise TargetUnreachable(
                f"the S3 server at {self.server} broke off sending {name}: {type(exc).__name__}",
                hint="check the network and the server",
            ) from None
        finally:
            body.close()
        expected = int(response.get("ContentLength", len(data)))
        if len(data) != expected:
            raise TargetUnreachable(f"short read of {name} from {self.location} ({len(data)} of {expected})")
        return data

    def read(self, name: str) -> bytes:
        return self._get(name)

    def _fetch_range(self, name: str, offset: int, length: int) -> bytes:
        try:
            return self._get(
                name, frozenset({"InvalidRange", "416"}), Range=f"bytes={offset}-{offset + length - 1}"
            )
        except _Handled:  # the range starts past the end
            return b""

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        # only packs are served from read-ahead windows: they are immutable (named by content)
        if name.startswith("data/"):
            data = self._windows.read(name, offset, length)
        else:
            data = self._fetch_range(name, offset, length)
        if len(data) != length:
            raise ObjectMissing(f"{name} is shorter than the index says (truncated?)")
        return data

    def _put(self, name: str, data: bytes, handled: frozenset[str] = frozenset(), **params: Any) -> None:
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._call(
            f"write {name}",
            "put_object",
            handled=handled,
            Key=self._key(name),
            Body=data,
            ContentMD5=digest,
            **params,
        )

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        self._put(name, bytes(data))

    def create_exclusive(self, name: str, data: bytes) -> bool:
        payload = bytes(data)
        for attempt in range(CONFLICT_RETRIES):
            try:
                self._put(name, payload, TAKEN | CONFLICT, IfNoneMatch="*")
                return True
            except _Handled as exc:
                if exc.code in TAKEN:
                    # taken — unless it is ours, written by a try whose answer was lost (botocore retries)
                    try:
                        return self.read(name) == payload
                    except ObjectMissing:
                        continue  # deleted meanwhile: try again
            time.sleep(0.2 * (attempt + 1))  # another conditional write of this name is in flight
        return False

    def delete(self, name: str) -> bool:
        self._windows.forget(name)
        if self.stat(name) is None:
            return False
        self._call(f"delete {name}", "delete_object", Key=self._key(name))
        return True

    def list(self, prefix: str) -> list[ObjectInfo]:
        folder = self._key(prefix.rstrip("/")) + "/"
        client = self._s3()
        out: list[ObjectInfo] = []
        try:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.where.bucket, Prefix=folder, PaginationConfig={"PageSize": LIST_PAGE_SIZE}
            ):
                for item in page.get("Contents", []):
                    key = item.get("Key", "")
                    out.append(
                        ObjectInfo(
                            name=key[len(self.where.prefix) :],
                            size=int(item.get("Size", 0)),
                            mtime=item["LastModified"].timestamp() if "LastModified" in item else 0.0,
                        )
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._error(exc, f"list {prefix}") from None
        return sorted(out, key=lambda info: info.name)

    def cleanup_temporaries(self, older_than_s: float) -> int:
        return 0  # a PUT leaves nothing behind, and no multipart upload is ever started

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._windows.clear()


def _code(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    return str(error.get("Code", "")), int(meta.get("HTTPStatusCode", 0))
