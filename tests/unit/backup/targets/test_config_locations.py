"""`backup.repo` in clawkeeper.toml: local paths resolve against the file, URLs stay as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.config import load_config


@pytest.mark.parametrize(
    "url",
    ["sftp://backup@nas.example:2222/srv/clawkeeper", "sftp://nas/~/ck", "s3://my-bucket/agents/main"],
)
def test_repository_urls_are_not_taken_for_relative_paths(tmp_path: Path, url: str) -> None:
    config = tmp_path / "etc" / "clawkeeper.toml"
    config.parent.mkdir()
    config.write_text(f'[backup]\nrepo = "{url}"\n')
    assert load_config(config, env={}, cwd=tmp_path).settings.backup.repo == url
    from_env = load_config(None, env={"CLAWKEEPER_BACKUP__REPO": url}, cwd=tmp_path)
    assert from_env.settings.backup.repo == url


def test_local_repositories_resolve_exactly_as_before(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "clawkeeper.toml"
    config.parent.mkdir()
    config.write_text(
        '[backup]\nrepo = "backups/openclaw"\n\n[backup.sftp]\nknown_hosts = "ssh/known_hosts"\n'
        '\n[backup.s3]\ncredentials_file = "s3.ini"\n'
    )
    settings = load_config(config, env={}, cwd=tmp_path / "elsewhere").settings.backup
    assert settings.repo == str(tmp_path / "etc" / "backups" / "openclaw")
    assert settings.sftp.known_hosts == tmp_path / "etc" / "ssh" / "known_hosts"
    assert settings.s3.credentials_file == tmp_path / "etc" / "s3.ini"
    from_env = load_config(None, env={"CLAWKEEPER_BACKUP__REPO": "rel/repo"}, cwd=tmp_path)
    assert from_env.settings.backup.repo == str(tmp_path / "rel" / "repo")
