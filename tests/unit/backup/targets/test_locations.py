"""Repository locations: local paths stay as they were; sftp:// and s3:// URLs parse strictly."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from clawkeeper.backup.settings import BackupSettings
from clawkeeper.backup.targets import (
    LocalTarget,
    S3Location,
    SftpLocation,
    describe,
    is_remote,
    open_target,
    parse_s3,
    parse_sftp,
)
from clawkeeper.backup.targets.retry import RetryingTarget
from clawkeeper.errors import UsageError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sftp://backup@nas:2222/srv/ck", SftpLocation("backup", "nas", 2222, "/srv/ck")),
        ("sftp://backup@nas/srv/ck/", SftpLocation("backup", "nas", 22, "/srv/ck")),
        ("sftp://backup@nas/~/ck", SftpLocation("backup", "nas", 22, "ck")),
        ("sftp://backup@[::1]:22/srv", SftpLocation("backup", "::1", 22, "/srv")),
        ("sftp://b%40x@nas/srv/with%20space", SftpLocation("b@x", "nas", 22, "/srv/with space")),
    ],
)
def test_sftp_urls(url: str, expected: SftpLocation) -> None:
    assert parse_sftp(url) == expected


def test_sftp_user_defaults_to_the_current_user() -> None:
    assert parse_sftp("sftp://nas/srv/ck").user == getpass.getuser()


def test_sftp_location_is_shown_in_a_form_that_parses_back() -> None:
    for url in ("sftp://u@nas:2222/srv/ck", "sftp://u@nas/~/ck", "sftp://u@[::1]:22/srv"):
        shown = str(parse_sftp(url))
        assert parse_sftp(shown) == parse_sftp(url)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sftp://u:hunter2@nas/srv", "contains a password"),
        ("sftp://u@nas", "names no folder"),
        ("sftp://u@nas/", "names no folder"),
        ("sftp://u@nas/~/", "names no folder"),
        ("sftp://u@nas:99999/srv", "bad port"),
        ("sftp://u@nas/srv/../etc", ". or .."),
        ("sftp:///srv", "no host"),
        ("sftp://u:hunter2@[::1/srv", "malformed"),
    ],
)
def test_bad_sftp_urls_are_one_clear_usage_error(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_sftp(url)
    assert fragment in caught.value.message and caught.value.hint
    assert "hunter2" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://my-bucket", S3Location("my-bucket", "")),
        ("s3://my-bucket/", S3Location("my-bucket", "")),
        ("s3://my-bucket/clawkeeper/host1/", S3Location("my-bucket", "clawkeeper/host1/")),
    ],
)
def test_s3_urls(url: str, expected: S3Location) -> None:
    assert parse_s3(url) == expected
    assert parse_s3(str(expected)) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("s3://AKIA:secret@bucket/x", "contains credentials"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("s3://ab/x", "not a valid S3 bucket name"),
        ("s3://my-bucket/a//b", "empty, . or .."),
        ("s3://my-bucket/a/../b", "empty, . or .."),
    ],
)
def test_bad_s3_urls(url: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_s3(url)
    assert fragment in caught.value.message
    assert "secret" not in caught.value.one_line()


def test_local_paths_open_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for location, root in [
        (tmp_path / "a", tmp_path / "a"),
        (str(tmp_path / "b"), tmp_path / "b"),
        ("~/c", tmp_path / "c"),
        ("relative/d", Path("relative/d")),
        (f"file://{tmp_path}/e", tmp_path / "e"),
    ]:
        target = open_target(location)
        assert isinstance(target, LocalTarget) and target.root == root
        assert not is_remote(location)


def test_remote_targets_open_lazily_and_sftp_is_retried() -> None:
    # nothing listens on port 9 of loopback; opening must not connect yet
    target = open_target("sftp://u@127.0.0.1:9/srv/ck", BackupSettings())
    assert isinstance(target, RetryingTarget) and target.location == "sftp://u@127.0.0.1:9/srv/ck"
    assert open_target("s3://my-bucket/ck").location == "s3://my-bucket/ck"
    assert is_remote("sftp://u@h/x") and is_remote("s3://b/x")


def test_unknown_schemes_are_refused() -> None:
    with pytest.raises(UsageError, match="ftp:// is not supported"):
        open_target("ftp://host/x")


def test_describe_never_shows_credentials_nor_fails() -> None:
    assert describe("sftp://u@nas/srv") == "sftp://u@nas:22/srv"
    assert describe("s3://my-bucket/x/") == "s3://my-bucket/x"
    for url in (
        "https://user:pw@host/x",
        "sftp://u:pw@nas/srv",
        "s3://key:pw@bucket/x",
        "sftp://u:pw@h:99999/x",
    ):
        assert "pw" not in describe(url)


def test_settings_take_a_path_or_a_url() -> None:
    assert BackupSettings(repo=Path("/srv/repo")).repo == "/srv/repo"
    assert BackupSettings(repo="s3://bucket/x").repo == "s3://bucket/x"
    with pytest.raises(ValueError, match="http"):
        BackupSettings.model_validate({"s3": {"endpoint_url": "127.0.0.1:9000"}})
    with pytest.raises(ValueError, match="credentials"):
        BackupSettings.model_validate({"s3": {"endpoint_url": "http://k:s@127.0.0.1:9000"}})
