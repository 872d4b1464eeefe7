"""Keys and sealing: wrong keys fail with one clear line, tampering never goes unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clawkeeper.backup.crypto import AesGcmCipher, AuthenticationFailed, BlobHasher
from clawkeeper.backup.keys import MasterKey, open_with_passphrase, seal_with_passphrase
from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.errors import CredentialsError, ExitCode, UsageError

from .conftest import PASSPHRASE


def test_sealed_data_round_trips_and_any_flipped_bit_is_detected() -> None:
    cipher = AesGcmCipher(bytes(range(32)))
    sealed = cipher.seal(b"agent memory", b"blob-id")
    assert cipher.open(sealed, b"blob-id") == b"agent memory"
    for position in (0, 12, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(AuthenticationFailed):
            cipher.open(bytes(tampered), b"blob-id")


def test_a_blob_cannot_be_passed_off_under_another_id() -> None:
    cipher = AesGcmCipher(bytes(32))
    sealed = cipher.seal(b"data", b"id-one")
    with pytest.raises(AuthenticationFailed):
        cipher.open(sealed, b"id-two")


def test_blob_ids_are_keyed_so_other_repositories_cannot_test_for_content() -> None:
    a = BlobHasher(bytes(32))
    b = BlobHasher(bytes([1]) * 32)
    assert a(b"same content") == a(b"same content")
    assert a(b"same content") != b(b"same content")


def test_passphrase_entry_opens_only_with_the_right_passphrase() -> None:
    master = MasterKey.generate()
    entry = seal_with_passphrase(master, "right", "repo-1")
    assert open_with_passphrase(entry, "right", "repo-1") == master
    assert open_with_passphrase(entry, "wrong", "repo-1") is None
    assert open_with_passphrase(entry, "right", "another-repo") is None


def test_wrong_passphrase_fails_with_one_clear_credentials_error(repo_path: Path, repo: Repository) -> None:
    with pytest.raises(CredentialsError) as caught:
        Repository.open(LocalTarget(repo_path), Credentials(passphrase="not it"))
    line = caught.value.one_line()
    assert "wrong passphrase" in line and "\n" not in line
    assert caught.value.exit_code is ExitCode.CREDENTIALS


def test_missing_passphrase_says_how_to_give_one(repo_path: Path, repo: Repository) -> None:
    with pytest.raises(CredentialsError, match="needs its passphrase") as caught:
        Repository.open(LocalTarget(repo_path), Credentials())
    assert "CLAWKEEPER_BACKUP_PASSPHRASE" in (caught.value.hint or "")


def test_key_file_is_private_and_a_foreign_key_file_is_refused(tmp_path: Path) -> None:
    key_a = tmp_path / "a.key"
    init_repository(LocalTarget(tmp_path / "a"), Credentials(), new_key_file=key_a)
    assert key_a.stat().st_mode & 0o777 == 0o600
    key_b = tmp_path / "b.key"
    init_repository(LocalTarget(tmp_path / "b"), Credentials(), new_key_file=key_b)

    Repository.open(LocalTarget(tmp_path / "a"), Credentials(key_file=key_a))  # opens
    with pytest.raises(CredentialsError, match="does not open the repository") as caught:
        Repository.open(LocalTarget(tmp_path / "a"), Credentials(key_file=key_b))
    assert "\n" not in caught.value.one_line()


@pytest.mark.parametrize("content", ["not json at all", '{"kind": "something else"}', "damaged"])
def test_a_file_that_is_no_key_file_or_a_damaged_one_fails_with_one_line_and_a_hint(
    tmp_path: Path, content: str
) -> None:
    key = tmp_path / "k"
    init_repository(LocalTarget(tmp_path / "r"), Credentials(), new_key_file=key)
    if content == "damaged":
        document = json.loads(key.read_text())
        document["id_key"] = "not base64 of 32 bytes"
        content = json.dumps(document)
    key.write_text(content)
    with pytest.raises(CredentialsError, match="key file") as caught:
        Repository.open(LocalTarget(tmp_path / "r"), Credentials(key_file=key))
    assert caught.value.hint and "backup init --key-file" in caught.value.hint
    assert "\n" not in caught.value.one_line()


def test_key_file_repository_without_key_file_says_so(tmp_path: Path) -> None:
    init_repository(LocalTarget(tmp_path / "r"), Credentials(), new_key_file=tmp_path / "k")
    with pytest.raises(CredentialsError, match="key file"):
        Repository.open(LocalTarget(tmp_path / "r"), Credentials())


def test_init_refuses_an_existing_repository_and_never_overwrites_a_key_file(tmp_path: Path) -> None:
    init_repository(LocalTarget(tmp_path / "r"), Credentials(passphrase=PASSPHRASE))
    with pytest.raises(UsageError, match="already holds"):
        init_repository(LocalTarget(tmp_path / "r"), Credentials(passphrase=PASSPHRASE))
    key = tmp_path / "existing.key"
    key.write_text("precious")
    with pytest.raises(CredentialsError, match="already exists"):
        init_repository(LocalTarget(tmp_path / "r2"), Credentials(), new_key_file=key)
    assert key.read_text() == "precious"


def test_encrypted_repository_needs_a_secret_at_init(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError):
        init_repository(LocalTarget(tmp_path / "r"), Credentials())
    assert not (tmp_path / "r" / "config").exists()


def test_repository_files_hold_no_plaintext(repo: Repository, repo_path: Path, agent_state: Path) -> None:
    from clawkeeper.backup.create import create_snapshot
    from clawkeeper.backup.sources import OpenClawPaths, openclaw_sources

    create_snapshot(repo, openclaw_sources(OpenClawPaths(state_dir=agent_state)))
    for path in repo_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"sk-test" not in data and b"hello 1" not in data, path
            assert path.stat().st_mode & 0o077 == 0, path


def test_a_passphrase_stretched_ahead_opens_the_repository_like_the_passphrase_itself(
    repo_path: Path, repo: Repository
) -> None:
    from clawkeeper.backup.keys import stretch, stretch_passphrase

    target = LocalTarget(repo_path)
    stretched = stretch_passphrase(target, PASSPHRASE)
    assert len(stretched) == 1
    ((name, kek),) = stretched.items()
    assert stretch(target.read(name), PASSPHRASE) == kek
    opened = Repository.open(target, Credentials(passphrase=PASSPHRASE, stretched=stretched))
    assert opened.master == repo.master
    wrong = stretch_passphrase(target, "wrong")
    with pytest.raises(CredentialsError, match="wrong passphrase"):
        Repository.open(target, Credentials(passphrase="wrong", stretched=wrong))
    assert "correct horse" not in repr(Credentials(passphrase=PASSPHRASE, stretched=stretched))
    assert stretch(b"not a key entry", PASSPHRASE) is None
