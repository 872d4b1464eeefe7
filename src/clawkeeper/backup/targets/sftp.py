"""A repository on an SFTP server (OpenSSH), over one SSH connection opened on first use.

Writes go to `.tmp-<name>.<random>` beside the object, are written pipelined, fsynced with
`fsync@openssh.com` (when the server has it), and renamed over the name with
`posix-rename@openssh.com`, which replaces atomically. `create_exclusive` writes a temp file the
same way and renames it with the plain SFTP rename: OpenSSH performs that as link()+unlink(),
which fails when the name exists, so the object appears whole or not at all and never replaces
someone else's. Objects are created 0600 and folders 0700, as in a local repository. The rename
itself is made durable by the server's filesystem (SFTP cannot fsync a folder).

The server must prove its identity with a host key listed in `known_hosts`; an unknown key is
refused (with its fingerprint and the command that would add it) unless `accept_new_host_key`
is set, and a changed key is always refused. Logins use keys only: the SSH agent, the
configured identity file or ~/.ssh/id_*; an encrypted key file is opened with
`$CLAWKEEPER_SFTP_KEY_PASSPHRASE`.

paramiko's SFTPClient serves one request at a time (two threads waiting on one channel can
steal each other's answers), and the engine reads and writes from several threads, so the
target keeps a small pool of SFTP channels over its one SSH connection. A lost connection
raises `TargetUnreachable` after being dropped; `RetryingTarget` then reconnects.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import paramiko
from paramiko.sftp import CMD_EXTENDED, SFTPError
from paramiko.sftp_client import SFTPClient
from paramiko.sftp_file import SFTPFile

from clawkeeper.backup.settings import SftpSettings
from clawkeeper.backup.targets import SftpLocation
from clawkeeper.backup.targets.base import ObjectInfo, ObjectMissing, TargetError
from clawkeeper.backup.targets.readahead import ReadWindows
from clawkeeper.backup.targets.retry import TargetUnreachable
from clawkeeper.effects.fs import atomic_write_bytes, ensure_dir
from clawkeeper.errors import CredentialsError

KEY_PASSPHRASE_ENV = "CLAWKEEPER_SFTP_KEY_PASSPHRASE"  # noqa: S105 - the variable's name
TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700
WRITE_SLICE = 1024 * 1024
KEEPALIVE_S = 30

# errors that mean the connection, not the request, failed
_TRANSPORT_ERRORS = (paramiko.SSHException, SFTPError, TimeoutError, ConnectionError)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: `SHA256:` and the unpadded base64 of the key blob's SHA-256."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Refuses unknown host keys, or records them in known_hosts when explicitly allowed."""

    def __init__(self, known_hosts: Path, accept_new: bool) -> None:
        self.known_hosts = known_hosts
        self.accept_new = accept_new
        self.accepted: str | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise _UnknownHostKey(hostname, key)
        line = f"{hostname} {key.get_name()} {key.get_base64()}\n".encode()
        try:
            old = self.known_hosts.read_bytes()
            mode = self.known_hosts.stat().st_mode & 0o777
        except FileNotFoundError:
            old, mode = b"", 0o600
        if old and not old.endswith(b"\n"):
            old += b"\n"
        ensure_dir(self.known_hosts.parent)
        atomic_write_bytes(self.known_hosts, old + line, mode=mode)
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.accepted = fingerprint(key)


class _UnknownHostKey(Exception):  # an internal signal, turned into TargetError
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(hostname)
        self.hostname = hostname
        self.key = key


class _Connection:
    """One SSH connection and its pool of SFTP channels."""

    def __init__(self, client: paramiko.SSHClient, max_channels: int, io_timeout: float) -> None:
        self.client = client
        self.max_channels = max_channels
        self.io_timeout = io_timeout
        self.idle: list[SFTPClient] = []
        self.opened = 0
        self.broken = False
        self.cond = threading.Condition()

    def alive(self) -> bool:
        transport = self.client.get_transport()
        return not self.broken and transport is not None and transport.is_active()

    def acquire(self) -> SFTPClient:
        deadline = time.monotonic() + self.io_timeout
        with self.cond:
            while True:
                if self.broken:
                    raise _ConnectionGone
                if self.idle:
                    return self.idle.pop()
                if self.opened < self.max_channels:
                    self.opened += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no SFTP channel became free")
                self.cond.wait(left)
        try:
            sftp = self.client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.io_timeout)
        except BaseException:
            with self.cond:
                self.opened -= 1
                self.cond.notify()
            raise
        return sftp

    def release(self, sftp: SFTPClient) -> None:
        with self.cond:
            if self.broken:
                return
            self.idle.append(sftp)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.broken = True
            idle, self.idle = self.idle, []
            self.cond.notify_all()
        for sftp in idle:
            with contextlib.suppress(Exception):
                sftp.close()
        with contextlib.suppress(Exception):
            self.client.close()


class _ConnectionGone(Exception):
    """The connection was closed by another thread that saw it fail."""


class SftpTarget:
    def __init__(
        self, where: SftpLocation, settings: SftpSettings, *, env: Mapping[str, str] | None = None
    ) -> None:
        self.where = where
        self.settings = settings
        self._env = os.environ if env is None else env
        self._root = where.path
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._known_dirs: set[str] = set()
        self._fsync_supported = True
        self._windows = ReadWindows(self._fetch_range)

    @property
    def location(self) -> str:
        return str(self.where)

    @property
    def known_hosts(self) -> Path:
        return (self.settings.known_hosts or Path("~/.ssh/known_hosts")).expanduser()

    def _path(self, name: str) -> str:
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or name.startswith("/"):
            raise ValueError(f"invalid object name {name!r}")
        return f"{self._root}/{name}"

    # connection ----------------------------------------------------------------------------
    def _server(self) -> str:
        host = f"[{self.where.host}]" if ":" in self.where.host else self.where.host
        return host if self.where.port == 22 else f"{host}:{self.where.port}"

    def _connect(self) -> _Connection:
        identity = self.settings.identity_file.expanduser() if self.settings.identity_file else None
        if identity is not None and not identity.is_file():
            raise CredentialsError(
                f"SSH identity file {identity} does not exist",
                hint="fix backup.sftp.identity_file, or leave it empty to use the SSH agent",
            )
        client = paramiko.SSHClient()
        known = self.known_hosts
        try:
            if known.is_file():
                client.load_host_keys(str(known))
        except (OSError, paramiko.SSHException) as exc:
            raise TargetError(
                f"cannot read known_hosts file {known}: {exc}", hint="fix or remove the damaged line"
            ) from exc
        client.set_missing_host_key_policy(_HostKeyPolicy(known, self.settings.accept_new_host_key))
        timeout = self.settings.connect_timeout
        try:
            client.connect(
                self.where.host,
                port=self.where.port,
                username=self.where.user,
                key_filename=str(identity) if identity else None,
                allow_agent=self.settings.use_agent,
                look_for_keys=identity is None,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                passphrase=self._env.get(KEY_PASSPHRASE_ENV),
            )
        except _UnknownHostKey as exc:
            client.close()
            port = f"-p {self.where.port} " if self.where.port != 22 else ""
            raise TargetError(
                f"the SSH host key of {exc.hostname} ({exc.key.get_name()} {fingerprint(exc.key)}) "
                f"is not in {known}; refusing to connect",
                hint=f"check the fingerprint with the server's owner, then run "
                f"`ssh-keyscan {port}{self.where.host} >> {known}` "
                "(or set backup.sftp.accept_new_host_key = true for the first connection)",
            ) from None
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise TargetError(
                f"the SSH host key of {exc.hostname} has changed: it offers {fingerprint(exc.key)}, "
                f"{known} expects {fingerprint(exc.expected_key)}; refusing to connect",
                hint="if the server's key was really replaced, remove the old line with "
                f"`ssh-keygen -R '{exc.hostname}' -f {known}`; otherwise the connection may be intercepted",
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise CredentialsError(
                f"the SSH server at {self._server()} refused the login as {self.where.user}: {exc}",
                hint="load the key into ssh-agent or set backup.sftp.identity_file, and list its public key "
                f"in ~{self.where.user}/.ssh/authorized_keys on the server",
            ) from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            raise TargetUnreachable(
                f"cannot connect to the SSH server at {self._server()}: {_reason(exc)}",
                hint="check that the server is running and the host and port in the repository URL",
            ) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_S)
        return _Connection(client, self.settings.connections, self.settings.io_timeout)

    def _connection(self) -> _Connection:
        with self._lock:
            if self._conn is None or not self._conn.alive():
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                self._conn = self._connect()
            return self._conn

    def _drop(self, conn: _Connection) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    @contextlib.contextmanager
    def _channel(self, doing: str) -> Iterator[SFTPClient]:
        """An SFTP channel; a failure of the connection becomes TargetUnreachable, other I/O
        errors TargetError. Code inside handles the errors it expects (a missing file) itself."""
        conn = self._connection()
        try:
            sftp = conn.acquire()
        except _ConnectionGone:
            raise TargetUnreachable(
                f"lost the connection to {self.location} while trying to {doing}",
                hint="check the network and the SSH server",
            ) from None
        except (OSError, paramiko.SSHException, EOFError, SFTPError) as exc:
            self._drop(conn)
            raise TargetUnreachable(
                f"cannot open an SFTP session on {self._server()}: {_reason(exc)}",
                hint="check that the server allows the sftp subsystem",
            ) from None
        try:
            yield sftp
        except (OSError, paramiko.SSHException, EOFError, SFTPError) as exc:
            channel = sftp.get_channel()
            channel_gone = channel is None or channel.closed or channel.eof_received
            if isinstance(exc, _TRANSPORT_ERRORS) or channel_gone or not conn.alive():
                self._drop(conn)
                raise TargetUnreachable(
                    f"lost the connection to {self.location} while trying to {doing}: {_reason(exc)}",
                    hint="check the network and the SSH server",
                ) from None
            conn.release(sftp)
            hint = "check the folder's permissions on the server" if _errno(exc) == errno.EACCES else None
            raise TargetError(
                f"cannot {doing} in {self.location}: {_reason(exc)}",
                hint=hint or "check free space and permissions on the server",
            ) from None
        except BaseException:
            conn.release(sftp)
            raise
        conn.release(sftp)

    # helpers --------------------------------------------------------------------------------
    def _ensure_dir(self, sftp: SFTPClient, folder: str) -> None:
        if not folder or folder in self._known_dirs or folder == "/":
            return
        try:
            if stat.S_ISDIR(sftp.stat(folder).st_mode or 0):
                self._known_dirs.add(folder)
                return
        except OSError as exc:
            if _errno(exc) != errno.ENOENT:
                raise
        parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
        self._ensure_dir(sftp, parent)
        try:
            sftp.mkdir(folder, DIR_MODE)
        except OSError:
            # another writer may have created it meanwhile; anything else fails the stat too
            if not stat.S_ISDIR(sftp.stat(folder).st_mode or 0):
                raise
        self._known_dirs.add(folder)

    def _put_temp(self, sftp: SFTPClient, path: str, data: bytes | bytearray | memoryview) -> str:
        """Write `data` to a new temp file beside `path`, durably; returns the temp's path."""
        folder, base = path.rsplit("/", 1)  # every object lies below the root folder
        tmp = f"{folder}/{TEMP_PREFIX}{base}.{secrets.token_hex(6)}"
        try:
            handle = sftp.open(tmp, "wbx")
        except OSError as exc:
            if _errno(exc) != errno.ENOENT:
                raise
            self._ensure_dir(sftp, folder)
            handle = sftp.open(tmp, "wbx")
        try:
            with handle:
                handle.chmod(FILE_MODE)
                handle.set_pipelined(True)
                view = memoryview(data)
                for start in range(0, len(view), WRITE_SLICE):
                    handle.write(bytes(view[start : start + WRITE_SLICE]))
                handle.flush()
                self._fsync(sftp, handle)
        except BaseException:
            with contextlib.suppress(Exception):
                sftp.remove(tmp)
            raise
        return tmp

    def _fsync(self, sftp: SFTPClient, handle: SFTPFile) -> None:
        if not self._fsync_supported:
            return
        try:
            sftp._request(CMD_EXTENDED, "fsync@openssh.com", handle.handle)  # type: ignore[attr-defined]
        except OSError as exc:
            if "unsupported" not in str(exc).lower():
                raise
            self._fsync_supported = False  # not OpenSSH: durability is the server's own

    # BackupTarget ---------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.stat(name) is not None

    def stat(self, name: str) -> ObjectInfo | None:
        path = self._path(name)
        with self._channel(f"stat {name}") as sftp:
            try:
                attrs = sftp.stat(path)
            except OSError as exc:
                if _errno(exc) == errno.ENOENT:
                    return None
                raise
        return ObjectInfo(name=name, size=attrs.st_size or 0, mtime=float(attrs.st_mtime or 0))

    def read(self, name: str) -> bytes:
        path = self._path(name)
        with self._channel(f"read {name}") as sftp:
            try:
                handle = sftp.open(path, "rb")
            except OSError as exc:
                if _errno(exc) == errno.ENOENT:
                    raise ObjectMissing(f"{name} is missing from the repository at {self.location}") from None
                raise
            with handle:
                size = handle.stat().st_size or 0
                data = _read_span(handle, 0, size)
        if len(data) != size:
            raise TargetError(f"short read of {name} from {self.location} ({len(data)} of {size} bytes)")
        return data

    def _fetch_range(self, name: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes at `offset` (fewer at the end of the object), in one pipelined read."""
        path = self._path(name)
        with self._channel(f"read {name}") as sftp:
            try:
                handle = sftp.open(path, "rb")
            except OSError as exc:
                if _errno(exc) == errno.ENOENT:
                    raise ObjectMissing(f"{name} is missing from the repository at {self.location}") from None
                raise
            with handle:
                # reading past the end makes paramiko's pipelined reads fail, so stay inside
                size = handle.stat().st_size or 0
                return _read_span(handle, offset, max(0, min(length, size - offset)))

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        # only packs are served from read-ahead windows: they are immutable (named by content)
        if name.startswith("data/"):
            data = self._windows.read(name, offset, length)
        else:
            data = self._fetch_range(name, offset, length)
        if len(data) != length:
            raise ObjectMissing(f"{name} is shorter than the index says (truncated?)")
        return data

    def write(self, name: str, data: bytes | bytearray | memoryview) -> None:
        path = self._path(name)
        with self._channel(f"write {name}") as sftp:
            tmp = self._put_temp(sftp, path, data)
            try:
                sftp.posix_rename(tmp, path)
            except BaseException:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)
                raise

    def create_exclusive(self, name: str, data: bytes) -> bool:
        path = self._path(name)
        with self._channel(f"create {name}") as sftp:
            tmp = self._put_temp(sftp, path, data)
            try:
                sftp.rename(tmp, path)  # link()+unlink() on OpenSSH: fails if `path` exists
            except OSError as exc:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)
                if isinstance(exc, _TRANSPORT_ERRORS):
                    raise
                try:
                    sftp.stat(path)
                except OSError:
                    raise exc from None
                return False
            return True

    def delete(self, name: str) -> bool:
        path = self._path(name)
        self._windows.forget(name)
        with self._channel(f"delete {name}") as sftp:
            try:
                sftp.remove(path)
            except OSError as exc:
                if _errno(exc) == errno.ENOENT:
                    return False
                raise
        return True

    def _walk(self, sftp: SFTPClient, folder: str) -> Iterator[tuple[str, paramiko.SFTPAttributes]]:
        """(path relative to the root, attributes) of every file below `folder`, depth first."""
        try:
            entries = sftp.listdir_attr(folder)
        except OSError as exc:
            if _errno(exc) == errno.ENOENT:
                return
            raise
        for entry in sorted(entries, key=lambda e: e.filename):
            path = f"{folder}/{entry.filename}"
            if stat.S_ISDIR(entry.st_mode or 0):
                yield from self._walk(sftp, path)
            elif stat.S_ISREG(entry.st_mode or 0):
                yield path[len(self._root) + 1 :], entry

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._path(prefix.rstrip("/"))
        with self._channel(f"list {prefix}") as sftp:
            return [
                ObjectInfo(name=rel, size=attrs.st_size or 0, mtime=float(attrs.st_mtime or 0))
                for rel, attrs in self._walk(sftp, base)
                if not rel.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
            ]

    def cleanup_temporaries(self, older_than_s: float) -> int:
        # the server's clock decides the files' age; a skew of minutes is far below the grace
        cutoff = time.time() - older_than_s
        removed = 0
        with self._channel("remove leftover temporary files") as sftp:
            for rel, attrs in list(self._walk(sftp, self._root)):
                if rel.rsplit("/", 1)[-1].startswith(TEMP_PREFIX) and (attrs.st_mtime or 0) < cutoff:
                    try:
                        sftp.remove(f"{self._root}/{rel}")
                    except OSError as exc:
                        if _errno(exc) != errno.ENOENT:
                            raise
                        continue
                    removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._windows.clear()


def _read_span(handle: SFTPFile, offset: int, length: int) -> bytes:
    """`length` bytes at `offset`, all requested at once and read back one request at a time.

    Pipelining is what makes SFTP fast; paramiko's own bound on requests in flight polls every
    10 ms, and one large `read()` of prefetched data is slow, so both are avoided (as `getfo`).
    """
    if length <= 0:
        return b""
    step = SFTPFile.MAX_REQUEST_SIZE
    end = offset + length
    spans = [(start, min(step, end - start)) for start in range(offset, end, step)]
    return b"".join(handle.readv(spans))


def _errno(exc: BaseException) -> int | None:
    return exc.errno if isinstance(exc, OSError) else None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError) and exc.errors:
        exc = next(iter(exc.errors.values()))  # one per address tried; they agree on loopback
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text or type(exc).__name__
