"""The repository's master key and the two ways to unlock it.

A repository has one master key: an encryption key (AES-256-GCM), an id key (keyed BLAKE3 blob
ids) and a chunker seed derived from the id key. It is made once at `init` and never changes.

- **Key file**: the master key itself in a JSON file kept 0600 *outside* the repository. Nothing
  to type, so it suits cron; whoever holds the file can read every snapshot.
- **Passphrase**: the master key is sealed with a key derived from the passphrase by scrypt and
  stored in the repository under `keys/`. Several key entries may exist (one per passphrase).

Either way the repository's `config` holds a *key check*: a constant sealed with the master key.
Opening with a different key fails the check, and the error says so in one line.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from clawkeeper.backup.crypto import KEY_SIZE, AesGcmCipher, AuthenticationFailed
from clawkeeper.backup.targets.base import BackupTarget, ObjectMissing
from clawkeeper.effects.fs import atomic_write_bytes
from clawkeeper.errors import CredentialsError

KEY_FILE_KIND = "clawkeeper-backup-key"
KEY_CHECK_PLAINTEXT = b"clawkeeper backup repository key check v1"

# scrypt cost: N=2^15, r=8, p=1 needs 32 MiB and ~0.1 s here. Stored per key entry, so a later
# release can raise it for new entries without breaking old ones.
DEFAULT_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MAX_SCRYPT_N = 2**22  # refuse absurd parameters from a tampered key entry (memory bomb)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class MasterKey:
    encryption_key: bytes
    id_key: bytes

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(encryption_key=os.urandom(KEY_SIZE), id_key=os.urandom(KEY_SIZE))

    @property
    def chunker_seed(self) -> int:
        """A per-repository gear-table seed so chunk boundaries differ between repositories."""
        derived = blake3.blake3(b"chunker-seed", key=self.id_key).digest(length=8)
        # pyfastcdc treats 0 as "unseeded"; keep the value in its accepted 63-bit range
        return (int.from_bytes(derived, "little") & ((1 << 63) - 1)) or 1

    def to_json(self) -> dict[str, str]:
        return {"encryption_key": b64(self.encryption_key), "id_key": b64(self.id_key)}

    @classmethod
    def from_json(cls, data: Any) -> MasterKey:
        try:
            enc = unb64(data["encryption_key"])
            idk = unb64(data["id_key"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CredentialsError("the key material is malformed") from exc
        if len(enc) != KEY_SIZE or len(idk) != KEY_SIZE:
            raise CredentialsError("the key material has the wrong length")
        return cls(encryption_key=enc, id_key=idk)


def key_check(master: MasterKey, repo_id: str) -> str:
    """The sealed constant stored in the repository config."""
    return b64(AesGcmCipher(master.encryption_key).seal(KEY_CHECK_PLAINTEXT, repo_id.encode()))


def key_matches(master: MasterKey, repo_id: str, check: str) -> bool:
    try:
        plain = AesGcmCipher(master.encryption_key).open(unb64(check), repo_id.encode())
    except (AuthenticationFailed, ValueError):
        return False
    return plain == KEY_CHECK_PLAINTEXT


# key files -------------------------------------------------------------------------------------
def write_key_file(path: Path, master: MasterKey, repo_id: str) -> None:
    """Write the master key to `path` (0600). Refuses to overwrite an existing file."""
    if path.exists():
        raise CredentialsError(
            f"key file {path} already exists", hint="choose another path; never overwrite a key you may need"
        )
    document = {"kind": KEY_FILE_KIND, "version": 1, "repository": repo_id, **master.to_json()}
    atomic_write_bytes(path, (json.dumps(document, indent=2) + "\n").encode(), mode=0o600)


def read_key_file(path: Path) -> tuple[MasterKey, str | None]:
    """The master key in `path` and the repository id it was written for."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise CredentialsError(
            f"key file {path} does not exist", hint="check --key-file / backup.key_file"
        ) from exc
    except OSError as exc:
        raise CredentialsError(f"cannot read key file {path}: {exc.strerror}") from exc
    hint = "pass the key file `backup init --key-file` wrote for this repository (or your copy of it)"
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path} is not a clawkeeper backup key file", hint=hint) from exc
    if not isinstance(document, dict) or document.get("kind") != KEY_FILE_KIND:
        raise CredentialsError(f"{path} is not a clawkeeper backup key file", hint=hint)
    repo = document.get("repository")
    try:
        master = MasterKey.from_json(document)
    except CredentialsError as exc:
        raise CredentialsError(f"key file {path} is damaged: {exc.message}", hint=hint) from exc
    return master, repo if isinstance(repo, str) else None


def key_file_is_private(path: Path) -> bool:
    """False when group or others may read the key file (the CLI warns; refusing would lock out)."""
    return path.stat().st_mode & 0o077 == 0


# passphrase key entries ------------------------------------------------------------------------
def _kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal_with_passphrase(master: MasterKey, passphrase: str, repo_id: str) -> bytes:
    """A key entry (JSON bytes) for `keys/`: the master key sealed under scrypt(passphrase)."""
    if not passphrase:
        raise CredentialsError("an empty passphrase is not allowed", hint="choose a long passphrase")
    salt = os.urandom(16)
    params = dict(DEFAULT_SCRYPT)
    kek = _kek(passphrase, salt, params["n"], params["r"], params["p"])
    sealed = AesGcmCipher(kek).seal(json.dumps(master.to_json()).encode(), repo_id.encode())
    entry = {
        "kind": "clawkeeper-backup-key-entry",
        "version": 1,
        "kdf": "scrypt",
        **params,
        "salt": b64(salt),
        "sealed": b64(sealed),
    }
    return (json.dumps(entry, indent=2) + "\n").encode()


def _entry_params(entry_bytes: bytes) -> tuple[int, int, int, bytes, bytes] | None:
    """(n, r, p, salt, sealed) of a well-formed scrypt key entry, else None."""
    try:
        entry = json.loads(entry_bytes)
        n, r, p = int(entry["n"]), int(entry["r"]), int(entry["p"])
        salt = unb64(entry["salt"])
        sealed = unb64(entry["sealed"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        return None
    if entry.get("kdf") != "scrypt" or not (2 <= n <= MAX_SCRYPT_N) or n & (n - 1) or not (1 <= r <= 32):
        return None
    if not (1 <= p <= 16):
        return None
    return n, r, p, salt, sealed


def stretch(entry_bytes: bytes, passphrase: str) -> bytes | None:
    """The key-encryption key `passphrase` gives for this entry (scrypt with the entry's salt and
    cost: the slow part of unlocking), or None for a malformed entry. scrypt releases the GIL, so
    this can run on another thread beside other work; `open_with_passphrase(kek=...)` uses it."""
    params = _entry_params(entry_bytes)
    if params is None:
        return None
    n, r, p, salt, _sealed = params
    return _kek(passphrase, salt, n, r, p)


def stretch_passphrase(target: BackupTarget, passphrase: str) -> dict[str, bytes]:
    """`stretch` for every key entry of the repository at `target`, by entry name (for
    `repository.Credentials.stretched`): the 0.1 s of scrypt a passphrase costs, run wherever the
    caller likes, e.g. on another thread while the engine is imported."""
    out: dict[str, bytes] = {}
    for info in target.list("keys"):
        try:
            kek = stretch(target.read(info.name), passphrase)
        except ObjectMissing:
            continue
        if kek is not None:
            out[info.name] = kek
    return out


def open_with_passphrase(
    entry_bytes: bytes, passphrase: str, repo_id: str, *, kek: bytes | None = None
) -> MasterKey | None:
    """The master key if `passphrase` opens this entry, None if it does not. `kek`: what
    `stretch(entry_bytes, passphrase)` returned, when it ran ahead."""
    params = _entry_params(entry_bytes)
    if params is None:
        return None
    n, r, p, salt, sealed = params
    if kek is None:
        kek = _kek(passphrase, salt, n, r, p)
    try:
        plain = AesGcmCipher(kek).open(sealed, repo_id.encode())
    except AuthenticationFailed:
        return None
    return MasterKey.from_json(json.loads(plain))
