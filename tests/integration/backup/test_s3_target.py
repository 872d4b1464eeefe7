"""S3 specifics against moto's server (authentication enforced): layout, credentials, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clawkeeper.backup.targets import TargetError, open_target, s3
from clawkeeper.backup.targets.retry import TargetUnreachable
from clawkeeper.errors import CredentialsError

from .conftest import S3Server, free_port


@pytest.fixture
def env_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)


@pytest.mark.usefixtures("env_credentials")
def test_objects_are_keys_below_the_prefix(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    target = open_target(f"s3://{bucket}/fleet/host-1", s3_server.settings())
    try:
        target.write("config", b"{}")
        target.write("data/3f/3f9a", b"pack")
        assert target.create_exclusive("locks/prune", b"lock")
    finally:
        target.close()
    client: Any = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == ["fleet/host-1/config", "fleet/host-1/data/3f/3f9a", "fleet/host-1/locks/prune"]


@pytest.mark.usefixtures("env_credentials")
def test_listing_pages_through_many_objects(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "LIST_PAGE_SIZE", 7)  # instead of writing more than 1000 objects
    target = open_target(f"s3://{s3_server.new_bucket()}", s3_server.settings())
    try:
        names = [f"index/{n:04d}" for n in range(30)]
        for name in names:
            target.write(name, b"x")
        target.write("indexes-are-not-index", b"x")
        assert [i.name for i in target.list("index")] == names
    finally:
        target.close()


def test_wrong_credentials_are_one_clear_line_without_the_secret(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.new_bucket()
    for key_id, secret in [
        (s3_server.key_id, "not-the-secret-0123"),
        ("AKIAUNKNOWN000000000", "whatever-4567"),
    ]:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        target = open_target(f"s3://{bucket}/ck", s3_server.settings())
        for operation, argument in (("read", "config"), ("stat", "config"), ("list", "data")):
            with pytest.raises(CredentialsError) as caught:
                getattr(target, operation)(argument)
            line = caught.value.one_line()
            assert s3_server.endpoint in line and "\n" not in line
            assert secret not in line and s3_server.secret not in line
            assert int(caught.value.exit_code) == 14
        target.close()


def test_a_private_credentials_file_works_and_a_shared_one_is_refused(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    path = tmp_path / "s3-credentials"
    path.write_text(
        f"[backup]\naws_access_key_id = {s3_server.key_id}\naws_secret_access_key = {s3_server.secret}\n"
    )
    path.chmod(0o600)
    settings = s3_server.settings(credentials_file=path, profile="backup")
    target = open_target(f"s3://{s3_server.new_bucket()}/ck", settings)
    try:
        target.write("config", b"{}")
        assert target.read("config") == b"{}"
    finally:
        target.close()
    path.chmod(0o644)
    shared = open_target(f"s3://{s3_server.new_bucket()}/ck", settings)
    with pytest.raises(CredentialsError, match="readable by other users"):
        shared.read("config")


@pytest.mark.usefixtures("env_credentials")
def test_a_missing_bucket_says_so(s3_server: S3Server) -> None:
    target = open_target("s3://ck-no-such-bucket/x", s3_server.settings())
    with pytest.raises(TargetError) as caught:
        target.write("config", b"{}")
    assert "bucket ck-no-such-bucket does not exist" in caught.value.message
    assert "never creates buckets" in (caught.value.hint or "")


@pytest.mark.usefixtures("env_credentials")
def test_a_server_that_is_down_is_reported(s3_server: S3Server) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    target = open_target("s3://ck-bucket/x", s3_server.settings(endpoint_url=endpoint, connect_timeout=2))
    with pytest.raises(TargetUnreachable) as caught:
        target.read("config")
    assert f"cannot reach the S3 server at {endpoint}" in caught.value.message
    assert "endpoint_url" in (caught.value.hint or "") and int(caught.value.exit_code) == 7
