"""One contract, three targets: a local folder, SFTP against a real sshd, S3 against moto's server.

Whatever the engine relies on (docs in backup/targets/base.py) must hold for every target.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.backup.targets import BackupTarget, LocalTarget, ObjectMissing, open_target

from .conftest import S3Server, SshServer

KINDS = ["local", "sftp", "s3"]


@pytest.fixture(params=KINDS)
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackupTarget]:
    made: BackupTarget
    if request.param == "local":
        made = LocalTarget(tmp_path / "repo")
    elif request.param == "sftp":
        ssh: SshServer = request.getfixturevalue("ssh_server")
        made = open_target(ssh.url(tmp_path / "repo"), ssh.settings())
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
        made = open_target(f"s3://{s3.new_bucket()}/team/{uuid.uuid4().hex[:8]}", s3.settings())
    try:
        yield made
    finally:
        made.close()


def test_write_read_stat_exists(target: BackupTarget) -> None:
    payload = os.urandom(70_000)
    target.write("snapshots/ab12", payload)
    assert target.read("snapshots/ab12") == payload
    assert target.exists("snapshots/ab12")
    info = target.stat("snapshots/ab12")
    assert info is not None and info.name == "snapshots/ab12" and info.size == len(payload) and info.mtime > 0


def test_writes_accept_any_bytes_like_object(target: BackupTarget) -> None:
    target.write("index/a", bytearray(b"from a bytearray"))
    target.write("index/b", memoryview(b"xx from a memoryview xx")[3:-3])
    target.write("index/empty", b"")
    assert target.read("index/a") == b"from a bytearray"
    assert target.read("index/b") == b"from a memoryview"
    assert target.read("index/empty") == b""


def test_read_range_reads_parts_and_reports_truncation(target: BackupTarget) -> None:
    pack = os.urandom(6 * 1024 * 1024 + 123)  # crosses a 4 MiB read-ahead window
    target.write("data/3f/3f9a", pack)
    for offset, length in [
        (0, 10),
        (4096, 4096),
        (4 * 1024 * 1024 - 5, 10),
        (len(pack) - 7, 7),
        (1, len(pack) - 1),
    ]:
        assert target.read_range("data/3f/3f9a", offset, length) == pack[offset : offset + length]
    with pytest.raises(ObjectMissing):
        target.read_range("data/3f/3f9a", len(pack) - 3, 10)
    with pytest.raises(ObjectMissing):
        target.read_range("data/3f/3f9a", len(pack) + 100, 10)
    target.write("keys/k", b"0123456789")
    assert target.read_range("keys/k", 2, 3) == b"234"


def test_missing_objects(target: BackupTarget) -> None:
    with pytest.raises(ObjectMissing):
        target.read("snapshots/nope")
    with pytest.raises(ObjectMissing):
        target.read_range("data/00/nope", 0, 10)
    assert target.stat("snapshots/nope") is None
    assert not target.exists("config")
    assert target.delete("snapshots/nope") is False


def test_create_exclusive_succeeds_once(target: BackupTarget) -> None:
    assert target.create_exclusive("locks/prune", b'{"pid": 1}') is True
    assert target.create_exclusive("locks/prune", b'{"pid": 2}') is False
    assert target.read("locks/prune") == b'{"pid": 1}'
    assert target.delete("locks/prune") is True
    assert target.create_exclusive("locks/prune", b'{"pid": 3}') is True
    assert [i.name for i in target.list("locks")] == ["locks/prune"]


def test_only_one_of_many_concurrent_creates_wins(target: BackupTarget) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        won = target.create_exclusive("locks/prune", f"holder {n}".encode())
        with lock:
            results.append(won)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [False] * 5 + [True]
    assert target.read("locks/prune").startswith(b"holder ")


def test_overwrite_replaces_the_whole_object(target: BackupTarget) -> None:
    target.write("sessions/s1.json", b"a long first version of the record" * 100)
    target.write("sessions/s1.json", b"short")
    assert target.read("sessions/s1.json") == b"short"
    listed = target.list("sessions")
    assert [(i.name, i.size) for i in listed] == [("sessions/s1.json", 5)]  # no temporaries show


def test_delete(target: BackupTarget) -> None:
    target.write("marks/m1", b"mark")
    assert target.delete("marks/m1") is True
    assert not target.exists("marks/m1")
    with pytest.raises(ObjectMissing):
        target.read("marks/m1")
    assert target.delete("marks/m1") is False


def test_list_is_recursive_complete_and_bounded_by_the_folder(target: BackupTarget) -> None:
    names = [f"data/{i:02x}/{i:02x}{'0' * 6}{n}" for i in range(3) for n in range(2)]
    for name in names:
        target.write(name, name.encode())
    target.write("database/not-data", b"x")  # shares the prefix "data" but is another folder
    target.write("config", b"{}")
    listed = target.list("data")
    assert sorted(i.name for i in listed) == sorted(names)
    assert all(i.size == len(i.name) for i in listed)
    assert sorted(i.name for i in target.list("data/")) == sorted(names)
    assert target.list("snapshots") == []


def test_concurrent_readers_and_writers(target: BackupTarget) -> None:
    """The engine reads packs from several threads and writes from a writer thread."""
    packs = {f"data/{n:02x}/{n:02x}pack": os.urandom(300_000 + n) for n in range(4)}
    for name, data in packs.items():
        target.write(name, data)
    errors: list[str] = []

    def reader(seed: int) -> None:
        for step in range(25):
            name = list(packs)[(seed + step) % len(packs)]
            offset = (seed * 7919 + step * 104729) % 290_000
            got = target.read_range(name, offset, 4096)
            if got != packs[name][offset : offset + 4096]:
                errors.append(f"{name}@{offset}")

    def writer() -> None:
        for step in range(10):
            target.write(f"index/w{step}", os.urandom(50_000))

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(4)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(target.list("index")) == 10


def test_cleanup_temporaries_leaves_objects_alone(target: BackupTarget) -> None:
    target.write("config", b"{}")
    assert target.cleanup_temporaries(0.0) == 0
    assert target.read("config") == b"{}"


def test_location_names_the_repository_without_credentials(target: BackupTarget, tmp_path: Path) -> None:
    assert target.location.endswith(str(tmp_path / "repo")) or target.location.startswith("s3://ck-")
    assert os.environ.get("AWS_SECRET_ACCESS_KEY", "no secret") not in target.location
