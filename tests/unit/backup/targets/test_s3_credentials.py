"""S3 credentials come from a private file or the environment, never the config, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.backup.settings import S3Settings
from clawkeeper.backup.targets.s3 import load_credentials
from clawkeeper.errors import CredentialsError

SECRET = "wJalrXUtnFEMI-not-a-real-secret"


def credentials_file(tmp_path: Path, mode: int, body: str | None = None) -> Path:
    path = tmp_path / "s3.ini"
    path.write_text(
        body
        if body is not None
        else f"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = {SECRET}\n"
        "[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = s2\naws_session_token = tok\n"
    )
    path.chmod(mode)
    return path


def test_environment_credentials() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": SECRET}
    assert load_credentials(S3Settings(), env) == ("AKIAENV", SECRET, None)
    env["AWS_SESSION_TOKEN"] = "tok"
    assert load_credentials(S3Settings(), env)[2] == "tok"


def test_a_private_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = credentials_file(tmp_path, 0o600)
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
    assert load_credentials(S3Settings(credentials_file=path), env) == ("AKIAEXAMPLE", SECRET, None)
    assert load_credentials(S3Settings(credentials_file=path, profile="other"), env) == (
        "AKIAOTHER",
        "s2",
        "tok",
    )


@pytest.mark.parametrize(
    ("mode", "body", "settings_extra", "fragment"),
    [
        (0o644, None, {}, "readable by other users"),
        (0o600, "not an ini file", {}, "not an INI file"),
        (0o600, None, {"profile": "missing"}, "lacks aws_access_key_id"),
    ],
)
def test_bad_credentials_files_are_refused_with_a_fix(
    tmp_path: Path, mode: int, body: str | None, settings_extra: dict[str, str], fragment: str
) -> None:
    path = credentials_file(tmp_path, mode, body)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(S3Settings(credentials_file=path, **settings_extra), {})
    assert fragment in caught.value.message and caught.value.hint
    assert SECRET not in caught.value.one_line()


def test_missing_credentials_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="no S3 credentials") as caught:
        load_credentials(S3Settings(), {"AWS_ACCESS_KEY_ID": "only-the-id"})
    assert "AWS_SECRET_ACCESS_KEY" in (caught.value.hint or "")
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credentials(S3Settings(credentials_file=tmp_path / "nope"), {})
