"""SFTP specifics against a real sshd: host keys, logins, private files, reconnects, leftovers."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import psutil
import pytest

from clawkeeper.backup.targets import TargetError, open_target
from clawkeeper.backup.targets.retry import RetryingTarget, TargetUnreachable
from clawkeeper.backup.targets.sftp import SftpTarget
from clawkeeper.errors import CredentialsError

from .conftest import SshServer, free_port, keygen


def test_objects_are_private_and_land_where_the_url_says(ssh_server: SshServer, tmp_path: Path) -> None:
    target = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings())
    try:
        target.write("data/3f/3f9a", b"pack")
        target.create_exclusive("locks/prune", b"lock")
    finally:
        target.close()
    for path in (tmp_path / "repo" / "data" / "3f" / "3f9a", tmp_path / "repo" / "locks" / "prune"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (tmp_path / "repo", tmp_path / "repo" / "data", tmp_path / "repo" / "data" / "3f"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "repo" / "data" / "3f").iterdir()) == ["3f9a"]


def test_an_unknown_host_key_is_refused_with_its_fingerprint(ssh_server: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    target = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings(known_hosts=known))
    with pytest.raises(TargetError) as caught:
        target.exists("config")
    error = caught.value
    assert f"[127.0.0.1]:{ssh_server.port}" in error.message and "SHA256:" in error.message
    assert "refusing to connect" in error.message
    assert f"ssh-keyscan -p {ssh_server.port} 127.0.0.1 >> {known}" in (error.hint or "")
    assert known.read_text() == ""  # nothing was trusted silently
    assert not (tmp_path / "repo").exists()


def test_a_missing_known_hosts_file_refuses_too(ssh_server: SshServer, tmp_path: Path) -> None:
    target = open_target(
        ssh_server.url(tmp_path / "repo"), ssh_server.settings(known_hosts=tmp_path / "none")
    )
    with pytest.raises(TargetError, match="is not in"):
        target.exists("config")


def test_accepting_a_new_host_key_must_be_asked_for_and_is_remembered(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    known = tmp_path / ".ssh" / "known_hosts"
    first = open_target(
        ssh_server.url(tmp_path / "repo"), ssh_server.settings(known_hosts=known, accept_new_host_key=True)
    )
    try:
        first.write("config", b"{}")
    finally:
        first.close()
    host_key = ssh_server.known_hosts.read_text().split(" ", 1)[1]
    assert known.read_text() == f"[127.0.0.1]:{ssh_server.port} {host_key}"
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    strict = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings(known_hosts=known))
    try:
        assert strict.read("config") == b"{}"
    finally:
        strict.close()


def test_a_changed_host_key_is_always_refused(ssh_server: SshServer, tmp_path: Path) -> None:
    impostor = keygen(tmp_path / "other_host")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{ssh_server.port} {impostor}\n")
    settings = ssh_server.settings(known_hosts=known, accept_new_host_key=True)
    target = open_target(ssh_server.url(tmp_path / "repo"), settings)
    with pytest.raises(TargetError) as caught:
        target.exists("config")
    assert "has changed" in caught.value.message and "refusing to connect" in caught.value.message
    assert "ssh-keygen -R" in (caught.value.hint or "")
    assert known.read_text() == f"[127.0.0.1]:{ssh_server.port} {impostor}\n"


def test_a_key_the_server_does_not_know_is_a_credentials_error(ssh_server: SshServer, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger")
    target = open_target(
        ssh_server.url(tmp_path / "repo"), ssh_server.settings(identity_file=tmp_path / "stranger")
    )
    with pytest.raises(CredentialsError) as caught:
        target.exists("config")
    assert "refused the login" in caught.value.message and "identity_file" in (caught.value.hint or "")
    missing = open_target(
        ssh_server.url(tmp_path / "repo"), ssh_server.settings(identity_file=tmp_path / "nope")
    )
    with pytest.raises(CredentialsError, match="does not exist"):
        missing.exists("config")


def test_a_server_that_is_down_is_retried_then_reported(ssh_server: SshServer, tmp_path: Path) -> None:
    url = f"sftp://{ssh_server.user}@127.0.0.1:{free_port()}{tmp_path}/repo"
    target = open_target(url, ssh_server.settings(connect_timeout=5))
    assert isinstance(target, RetryingTarget) and isinstance(target.inner, SftpTarget)
    target.first_pause_s = 0.05
    with pytest.raises(TargetUnreachable) as caught:
        target.read("config")
    assert "cannot connect to the SSH server at 127.0.0.1:" in caught.value.message
    assert "Connection refused" in caught.value.message and caught.value.hint
    assert int(caught.value.exit_code) == 7


def test_a_dropped_connection_is_reopened(ssh_server: SshServer, tmp_path: Path) -> None:
    target = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings())
    try:
        target.write("config", b"before")
        # kill the server's side of our session: the per-connection sshd processes we caused
        for child in psutil.Process(ssh_server.proc.pid).children(recursive=True):
            child.kill()
        deadline = time.monotonic() + 10
        while psutil.Process(ssh_server.proc.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        target.write("config", b"after")
        assert target.read("config") == b"after"
    finally:
        target.close()


def test_a_channel_lost_in_the_middle_of_a_call_is_retried_on_a_new_one(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    target = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings())
    assert isinstance(target, RetryingTarget) and isinstance(target.inner, SftpTarget)
    try:
        target.write("config", b"before")
        connection = target.inner._conn
        assert connection is not None and connection.idle
        for sftp in connection.idle:
            channel = sftp.get_channel()
            assert channel is not None
            channel.close()  # the transport stays up: only the call in flight notices
        assert target.read("config") == b"before"
        assert target.inner._conn is not connection
    finally:
        target.close()


def test_interrupted_writes_leave_temporaries_that_cleanup_removes(
    ssh_server: SshServer, tmp_path: Path
) -> None:
    target = open_target(ssh_server.url(tmp_path / "repo"), ssh_server.settings())
    try:
        target.write("data/aa/aa01", b"pack")
        old = tmp_path / "repo" / "data" / "aa" / ".tmp-aa02.0123456789ab"
        fresh = tmp_path / "repo" / "data" / "aa" / ".tmp-aa03.ba9876543210"
        old.write_bytes(b"half a pack")
        fresh.write_bytes(b"a write in progress")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        assert [i.name for i in target.list("data")] == ["data/aa/aa01"]
        assert target.cleanup_temporaries(3600) == 1
        assert not old.exists() and fresh.exists()
        assert target.read("data/aa/aa01") == b"pack"
    finally:
        target.close()
