"""Opening, creating and reading a repository; sealed objects; blobs by id.

On-disk layout (docs/backup.md has the full format):

    config                    plaintext JSON: format version, repository id, cipher, chunker, key check
    keys/<id>                 passphrase key entries (scrypt-sealed master key)
    data/<xx>/<pack id>       packs of sealed blobs
    index/<id>                sealed index files
    snapshots/<id>            sealed snapshot objects
    marks/<id>                sealed prune marks (packs a prune will delete on a later run)
    sessions/<id>.json        liveness records of running backups (never locks)
    locks/prune               the one lock: prunes exclude each other, backups never wait

Every object except `config`, `sessions/` and `locks/` is named by the BLAKE3 of its stored bytes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

from clawkeeper.backup.chunker import FILE_CHUNKER, ChunkerParams
from clawkeeper.backup.compress import (
    DEFAULT_LEVEL,
    compress_object,
    decompress,
    decompress_into,
    decompress_object,
)
from clawkeeper.backup.crypto import (
    AuthenticationFailed,
    BlobHasher,
    Cipher,
    content_name,
    make_cipher,
)
from clawkeeper.backup.heap import settle_large_buffers
from clawkeeper.backup.index import (
    INDEX_AAD,
    IndexedPack,
    IndexEntry,
    IndexFormatError,
    decode_index,
    encode_index,
)
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.keys import (
    MasterKey,
    b64,
    key_check,
    key_matches,
    open_with_passphrase,
    read_key_file,
    seal_with_passphrase,
    unb64,
    write_key_file,
)
from clawkeeper.backup.packs import DEFAULT_PACK_SIZE, BlobFlags, pack_object_name
from clawkeeper.backup.targets.base import BackupTarget, ObjectMissing
from clawkeeper.errors import CredentialsError, IntegrityError, NotFound, UsageError

FORMAT_NAME = "clawkeeper-backup-repository"
FORMAT_VERSION = 1
CONFIG_NAME = "config"
SNAPSHOT_AAD = b"clawkeeper-snapshot-v1"
MARK_AAD = b"clawkeeper-prune-mark-v1"
ENCRYPTIONS = ("aes-256-gcm", "none")
# Smaller blobs (database pages) decompress into new bytes: they come from malloc's arenas, which
# reuse their memory, and a stream reader per page would cost more than it saves.
DECOMPRESS_INTO_MIN = 64 * 1024


def opening_room(entry: IndexEntry) -> int:
    """Bytes of buffer `Repository.open_blob_into` needs for this blob."""
    compressed = entry.flags is BlobFlags.COMPRESSED and entry.raw_length >= DECOMPRESS_INTO_MIN
    return entry.length + (entry.raw_length if compressed else 0)


class BlobCorrupt(IntegrityError):
    """A blob's bytes do not decrypt, decompress or hash back to its id."""


@dataclass(frozen=True)
class Credentials:
    """How to unlock a repository: a key file, a passphrase, or both (key file wins)."""

    passphrase: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    # key entry name -> `keys.stretch(entry, passphrase)`, when the passphrase was stretched ahead
    # (`keys.stretch_passphrase`, on another thread): unlocking then skips scrypt for those entries
    stretched: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class RepoConfig:
    repo_id: str
    created: str
    encryption: str
    key_mode: str  # "passphrase", "keyfile" or "none"
    chunker: ChunkerParams
    pack_size: int
    compression_level: int
    key_check: str
    plain_id_key: str | None = None  # only for encryption "none": nothing to keep secret

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "id": self.repo_id,
            "created": self.created,
            "encryption": self.encryption,
            "key_mode": self.key_mode,
            "chunker": self.chunker.to_json(),
            "pack_size": self.pack_size,
            "compression_level": self.compression_level,
            "key_check": self.key_check,
        }
        if self.plain_id_key is not None:
            out["plain_id_key"] = self.plain_id_key
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> RepoConfig:
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise NotFound(f"{where} is not a clawkeeper backup repository")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise IntegrityError(
                f"{where} has repository format {version}; this clawkeeper reads format {FORMAT_VERSION}",
                hint="use the clawkeeper release that created it",
            )
        try:
            return cls(
                repo_id=str(data["id"]),
                created=str(data["created"]),
                encryption=str(data["encryption"]),
                key_mode=str(data["key_mode"]),
                chunker=ChunkerParams.from_json(data["chunker"]),
                pack_size=int(data["pack_size"]),
                compression_level=int(data["compression_level"]),
                key_check=str(data["key_check"]),
                plain_id_key=data.get("plain_id_key"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{where}/config is malformed: {exc}") from exc


def read_config(target: BackupTarget) -> RepoConfig:
    """The repository's plaintext config; NotFound when there is no repository at the target."""
    try:
        raw = target.read(CONFIG_NAME)
    except ObjectMissing as exc:
        raise NotFound(
            f"no backup repository at {target.location}",
            hint="create one with `clawkeeper backup init` or check --repo / backup.repo",
        ) from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{target.location}/config is not valid JSON") from exc
    return RepoConfig.from_json(data, target.location)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def init_repository(
    target: BackupTarget,
    credentials: Credentials,
    *,
    encryption: str = "aes-256-gcm",
    new_key_file: Path | None = None,
    chunker: ChunkerParams = FILE_CHUNKER,
    pack_size: int = DEFAULT_PACK_SIZE,
    compression_level: int = DEFAULT_LEVEL,
) -> Repository:
    """Create a repository. With `new_key_file` the master key goes there (0600); otherwise it is
    sealed under the passphrase in `keys/`. Refuses a target that already holds a repository."""
    if encryption not in ENCRYPTIONS:
        raise UsageError(f"unknown encryption {encryption!r}", hint=f"use one of: {', '.join(ENCRYPTIONS)}")
    if target.exists(CONFIG_NAME):
        raise UsageError(
            f"{target.location} already holds a backup repository", hint="use it, or pick a new path"
        )
    if target.list("data") or target.list("snapshots"):
        raise UsageError(f"{target.location} is not empty", hint="initialise a repository in an empty folder")
    master = MasterKey.generate()
    repo_id = secrets.token_hex(16)
    key_mode = "none"
    if encryption != "none":
        if new_key_file is not None:
            key_mode = "keyfile"
        elif credentials.passphrase:
            key_mode = "passphrase"
        else:
            raise CredentialsError(
                "an encrypted repository needs a passphrase or a key file",
                hint="set CLAWKEEPER_BACKUP_PASSPHRASE, or pass --key-file to create a key file",
            )
    config = RepoConfig(
        repo_id=repo_id,
        created=_now_iso(),
        encryption=encryption,
        key_mode=key_mode,
        chunker=chunker,
        pack_size=pack_size,
        compression_level=compression_level,
        key_check=key_check(master, repo_id),
        plain_id_key=b64(master.id_key) if encryption == "none" else None,
    )
    if key_mode == "keyfile" and new_key_file is not None:
        write_key_file(new_key_file, master, repo_id)
    if key_mode == "passphrase" and credentials.passphrase:
        entry = seal_with_passphrase(master, credentials.passphrase, repo_id)
        target.write(f"keys/{content_name(entry)}", entry)
    # the config goes last: a crash before this leaves no repository, not a half-made one
    target.write(CONFIG_NAME, (json.dumps(config.to_json(), indent=2) + "\n").encode())
    return Repository(target, config, master)


def _unlock(target: BackupTarget, config: RepoConfig, credentials: Credentials) -> MasterKey:
    where = target.location
    if config.encryption == "none":
        assert config.plain_id_key is not None  # noqa: S101 - written by init for this mode
        return MasterKey(encryption_key=bytes(32), id_key=unb64(config.plain_id_key))
    if credentials.key_file is not None:
        master, written_for = read_key_file(credentials.key_file)
        if not key_matches(master, config.repo_id, config.key_check):
            detail = f" (it was written for repository {written_for[:8]})" if written_for else ""
            raise CredentialsError(
                f"key file {credentials.key_file} does not open the repository at {where}{detail}",
                hint="pass the key file created with this repository",
            )
        return master
    if credentials.passphrase is None:
        if config.key_mode == "keyfile":
            raise CredentialsError(
                f"the repository at {where} is opened with a key file",
                hint="pass --key-file or set backup.key_file",
            )
        raise CredentialsError(
            f"the repository at {where} needs its passphrase",
            hint="set CLAWKEEPER_BACKUP_PASSPHRASE or run interactively to be asked",
        )
    entries = target.list("keys")
    for info in entries:
        master_or_none = open_with_passphrase(
            target.read(info.name),
            credentials.passphrase,
            config.repo_id,
            kek=credentials.stretched.get(info.name),
        )
        if master_or_none is not None and key_matches(master_or_none, config.repo_id, config.key_check):
            return master_or_none
    if not entries:
        raise CredentialsError(
            f"the repository at {where} has no passphrase keys", hint="open it with its key file (--key-file)"
        )
    raise CredentialsError(
        f"wrong passphrase for the backup repository at {where}",
        hint="check CLAWKEEPER_BACKUP_PASSPHRASE (or the key file, if the repository uses one)",
    )


class Repository:
    """An open, unlocked repository."""

    def __init__(self, target: BackupTarget, config: RepoConfig, master: MasterKey) -> None:
        self.target = target
        self.config = config
        self.master = master
        self.cipher: Cipher = make_cipher(config.encryption, master.encryption_key)
        self.hash_blob = BlobHasher(master.id_key)
        self._index: MasterIndex | None = None

    @classmethod
    def open(cls, target: BackupTarget, credentials: Credentials) -> Repository:
        settle_large_buffers()  # see heap.py: keeps peak memory flat as the agent grows
        config = read_config(target)
        return cls(target, config, _unlock(target, config, credentials))

    @property
    def location(self) -> str:
        return self.target.location

    def close(self) -> None:
        if self._index is not None:
            self._index.close()  # its scratch file goes now, not when garbage-collected
        self.target.close()

    # sealed objects -------------------------------------------------------------------------
    def put_object(self, folder: str, aad: bytes, plaintext: bytes) -> str:
        """Compress, seal and store; returns the object's id (its content name)."""
        stored = self.cipher.seal(compress_object(plaintext, self.config.compression_level), aad)
        object_id = content_name(stored)
        self.target.write(f"{folder}/{object_id}", stored)
        return object_id

    def get_object(self, folder: str, object_id: str, aad: bytes) -> bytes:
        stored = self.target.read(f"{folder}/{object_id}")
        if content_name(stored) != object_id:
            raise IntegrityError(
                f"{folder}/{object_id[:12]} is corrupted (its content does not match its name)"
            )
        try:
            return decompress_object(self.cipher.open(stored, aad))
        except AuthenticationFailed as exc:
            raise IntegrityError(f"{folder}/{object_id[:12]} does not authenticate (corrupted)") from exc
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{folder}/{object_id[:12]} does not decompress: {exc}") from exc

    def put_json(self, folder: str, aad: bytes, value: Any) -> str:
        return self.put_object(folder, aad, json.dumps(value, sort_keys=True, separators=(",", ":")).encode())

    def get_json(self, folder: str, object_id: str, aad: bytes) -> Any:
        raw = self.get_object(folder, object_id, aad)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"{folder}/{object_id[:12]} is not valid JSON") from exc

    def list_ids(self, folder: str) -> list[str]:
        return [info.name.rsplit("/", 1)[-1] for info in self.target.list(folder)]

    # index ----------------------------------------------------------------------------------
    def read_index_file(self, name: str) -> list[IndexedPack]:
        raw = self.get_object("index", name, INDEX_AAD)
        try:
            return decode_index(raw)
        except IndexFormatError as exc:
            raise IntegrityError(f"index/{name[:12]} is malformed: {exc}") from exc

    def load_index(
        self,
        *,
        marked: frozenset[str] = frozenset(),
        on_error: Callable[[str, Exception], None] | None = None,
        kept: Path | None = None,
    ) -> MasterIndex:
        """All index files merged. With `on_error`, unreadable files are reported, not raised.
        With `kept`, a folder where backups keep their index (`index_cache`), the index starts
        from the copy kept there when it can be trusted, and only newer index files are read."""
        names = self.list_ids("index")
        index = None
        if kept is not None:
            from clawkeeper.backup import index_cache

            index = index_cache.load(self, kept, names, marked)
        if index is None:
            index = MasterIndex(marked=marked)
        for name in names:
            if name in index.index_files:
                continue  # from the kept copy
            try:
                raw = self.get_object("index", name, INDEX_AAD)
                try:
                    index.add_encoded(name, raw)
                except IndexFormatError as exc:
                    raise IntegrityError(f"index/{name[:12]} is malformed: {exc}") from exc
            except (IntegrityError, ObjectMissing) as exc:
                if on_error is None:
                    raise
                on_error(name, exc)
                continue
        self._index = index
        return index

    @property
    def index(self) -> MasterIndex:
        if self._index is None:
            return self.load_index()
        return self._index

    def write_index(self, packs: list[IndexedPack]) -> str:
        return self.put_object("index", INDEX_AAD, encode_index(packs))

    # blobs ----------------------------------------------------------------------------------
    def open_blob(
        self, blob_id: bytes, entry: IndexEntry, sealed: bytes | memoryview, *, rehash: bool = True
    ) -> bytes:
        """Plaintext of a stored blob, checked against its id. Raises BlobCorrupt.

        With `rehash=False` and an authenticating cipher, the id is not recomputed: AES-GCM has
        already proven that these bytes were sealed by this repository's key under this id (the
        id is the associated data). Restores take that path; verify keeps recomputing, which also
        catches a writer that sealed the wrong bytes."""
        try:
            payload = self.cipher.open(sealed, blob_id)
        except AuthenticationFailed as exc:
            raise self._unauthentic(blob_id, entry) from exc
        return self._opened(blob_id, entry, payload, rehash)  # type: ignore[return-value]

    def open_blob_into(
        self,
        blob_id: bytes,
        entry: IndexEntry,
        sealed: bytes | memoryview,
        out: memoryview,
        *,
        rehash: bool = True,
    ) -> bytes | memoryview:
        """`open_blob` into the caller's buffer `out` (`opening_room(entry)` bytes) instead of new
        ones; the plaintext may be a view of `out`, valid until the caller reuses it. A fresh
        buffer per chunk costs the kernel a page fault and a zeroed page every 4 KiB: a fifth of
        a restore's CPU time went there."""
        try:
            size = self.cipher.open_into(sealed, blob_id, out)
        except AuthenticationFailed as exc:
            raise self._unauthentic(blob_id, entry) from exc
        payload = out[:size]
        if entry.flags is BlobFlags.COMPRESSED and entry.raw_length >= DECOMPRESS_INTO_MIN:
            try:
                raw = out[size : size + decompress_into(payload, entry.raw_length, out[size:])]
            except zstandard.ZstdError as exc:
                raise BlobCorrupt(f"blob {blob_id.hex()[:12]} does not decompress: {exc}") from exc
            return self._checked(blob_id, entry, raw, rehash)
        return self._opened(blob_id, entry, payload, rehash)

    @staticmethod
    def _unauthentic(blob_id: bytes, entry: IndexEntry) -> BlobCorrupt:
        return BlobCorrupt(f"blob {blob_id.hex()[:12]} in pack {entry.pack_id[:12]} does not authenticate")

    def _opened(
        self, blob_id: bytes, entry: IndexEntry, payload: bytes | memoryview, rehash: bool
    ) -> bytes | memoryview:
        if entry.flags is BlobFlags.COMPRESSED:  # identity: IntFlag arithmetic is slow in hot loops
            try:
                data: bytes | memoryview = decompress(payload, entry.raw_length)
            except zstandard.ZstdError as exc:
                raise BlobCorrupt(f"blob {blob_id.hex()[:12]} does not decompress: {exc}") from exc
        else:
            data = payload
        return self._checked(blob_id, entry, data, rehash)

    def _checked(
        self, blob_id: bytes, entry: IndexEntry, data: bytes | memoryview, rehash: bool
    ) -> bytes | memoryview:
        if len(data) != entry.raw_length or (
            (rehash or not self.cipher.authenticates) and self.hash_blob(data) != blob_id
        ):
            raise BlobCorrupt(f"blob {blob_id.hex()[:12]} in pack {entry.pack_id[:12]} does not match its id")
        return data

    def read_blob(self, blob_id: bytes) -> bytes:
        entry = self.index.lookup(blob_id)
        if entry is None:
            raise BlobCorrupt(f"blob {blob_id.hex()[:12]} is not in the index (missing data)")
        errors: list[str] = []
        for location in self.index.locations(blob_id):
            try:
                sealed = self.target.read_range(
                    pack_object_name(location.pack_id), location.offset, location.length
                )
                return self.open_blob(blob_id, location, sealed)
            except (BlobCorrupt, ObjectMissing) as exc:
                errors.append(str(exc))  # try the next copy, if a repack or a race left one
        raise BlobCorrupt(
            errors[0] if len(errors) == 1 else f"{errors[0]} (and {len(errors) - 1} other copies)"
        )
