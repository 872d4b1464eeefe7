"""`clawkeeper backup` end to end against remote repositories, through the real CLI.

A clawkeeper.toml points `backup.repo` at an SFTP folder on a real sshd or an S3 bucket on
moto's server; a small agent state is backed up, verified with a full read-back, restored into a
fresh folder and compared with the source; then forget and prune run remotely. The failures a
user meets first (server down, wrong host key, wrong S3 keys) end in one line and the right
exit code.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from clawkeeper.config import load_config
from clawkeeper.errors import ExitCode
from tests.support.cli import cli, cli_json

from .conftest import S3Server, SshServer, free_port, keygen

PASSPHRASE = "correct horse battery staple"
EXCLUDED = ("tmp", "npm")  # runtime folders the OpenClaw source set leaves out


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAWKEEPER_BACKUP_PASSPHRASE", PASSPHRASE)



def make_agent_state(root: Path) -> Path:
    state = root / "home" / ".openclaw"
    for folder in ("credentials/whatsapp", "agents/main/sessions", "workspace/memory", "tmp", "npm"):
        (state / folder).mkdir(parents=True)
    (state / "openclaw.json").write_text('{ meta: { lastTouchedVersion: "2026.8.2" } }\n')
    secret = state / ".env"
    secret.write_text("OPENAI_API_KEY=sk-test\n")
    secret.chmod(0o600)
    (state / "credentials" / "whatsapp" / "creds.json").write_text('{"token": "t"}')
    for i in range(3):
        (state / "agents" / "main" / "sessions" / f"s{i}.jsonl").write_text(f'{{"turn": {i}}}\n' * 500)
    (state / "workspace" / "MEMORY.md").write_text("# memory\n")
    (state / "workspace" / "memory" / "embeddings.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (state / "tmp" / "scratch.txt").write_text("rebuildable")
    conn = sqlite3.connect(state / "memory.sqlite")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, vec BLOB)")
        conn.executemany(
            "INSERT INTO notes (body, vec) VALUES (?, ?)",
            [(f"note {i} " * 10, os.urandom(200)) for i in range(800)],
        )
        conn.commit()
    finally:
        conn.close()
    return state


def dump(database: Path) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_same_state(source: Path, restored: Path) -> None:
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    kept = [
        rel
        for rel in files
        if rel.parts[0] not in EXCLUDED and not rel.name.endswith(("-wal", "-shm"))  # folded into the image
    ]
    restored_files = sorted(p.relative_to(restored) for p in restored.rglob("*") if p.is_file())
    assert restored_files == kept
    for rel in kept:
        if rel.suffix == ".sqlite":
            assert dump(restored / rel) == dump(source / rel)
        else:
            assert (restored / rel).read_bytes() == (source / rel).read_bytes(), rel
        assert (restored / rel).stat().st_mode == (source / rel).stat().st_mode, rel


def write_config(tmp_path: Path, repo: str, section: str, options: dict[str, object]) -> Path:
    lines = ["[backup]", f"repo = {json.dumps(repo)}", "", f"[backup.{section}]"]
    lines += [
        f"{key} = {json.dumps(str(value) if isinstance(value, Path) else value)}"
        for key, value in options.items()
    ]
    config = tmp_path / "clawkeeper.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def sftp_config(server: SshServer, tmp_path: Path, **overrides: object) -> Path:
    options: dict[str, object] = {
        "known_hosts": server.known_hosts,
        "identity_file": server.identity,
        "use_agent": False,
    }
    options.update(overrides)
    port = options.pop("port", server.port)
    repo = f"sftp://{server.user}@127.0.0.1:{port}{tmp_path}/remote/repo"
    return write_config(tmp_path, repo, "sftp", options)


def s3_config(server: S3Server, tmp_path: Path, bucket: str, **overrides: object) -> Path:
    options: dict[str, object] = {"endpoint_url": server.endpoint, "region": "us-east-1"}
    options.update(overrides)
    return write_config(tmp_path, f"s3://{bucket}/agents/main", "s3", options)


@pytest.fixture(params=["sftp", "s3"])
def remote_config(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Path]:
    if request.param == "sftp":
        config = sftp_config(request.getfixturevalue("ssh_server"), tmp_path)
    else:
        s3: S3Server = request.getfixturevalue("s3_server")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
        config = s3_config(s3, tmp_path, s3.new_bucket())
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(config))
    return request.param, config


def test_backup_verify_restore_forget_prune_on_a_remote_repository(
    remote_config: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kind, _config = remote_config
    state = make_agent_state(tmp_path / "agent")
    created = cli_json(capsys, "backup", "init")
    assert created["repo"].startswith(f"{kind}://") and created["key_mode"] == "passphrase"
    if kind == "sftp":
        assert (tmp_path / "remote" / "repo" / "config").is_file()

    first = cli_json(capsys, "backup", "create", "--state-dir", str(state), "--openclaw-version", "2026.8.2")
    assert not first["incomplete"] and first["stats"]["databases"] == 1
    report = cli_json(capsys, "backup", "verify", "--read-data")
    assert report["outcome"]["verdict"] == "passed" and report["packs_read"] == report["packs"] > 0

    restored = cli_json(capsys, "backup", "restore", "latest", "--to", str(tmp_path / "restored"))
    assert set(restored["databases"].values()) == {"ok"}
    assert_same_state(state, Path(restored["roots"][str(state)]))

    (state / "workspace" / "MEMORY.md").write_text("# memory, edited\n")
    second = cli_json(capsys, "backup", "create", "--state-dir", str(state))
    listing = cli_json(capsys, "backup", "list")
    assert [s["id"] for s in listing["snapshots"]] == [first["snapshot"], second["snapshot"]]
    assert cli_json(capsys, "backup", "forget", "--keep-last", "1")["removed"] == [first["snapshot"]]
    for _ in range(2):  # mark, then sweep: takes and releases the prune lock remotely
        cli_json(capsys, "backup", "prune", "--grace", "0h")
    final = cli_json(capsys, "backup", "verify", "--read-data")
    assert final["outcome"]["verdict"] == "passed"
    again = cli_json(capsys, "backup", "restore", "latest", "--to", str(tmp_path / "restored-2"))
    assert_same_state(state, Path(again["roots"][str(state)]))


def test_sftp_server_down_is_one_line_and_exit_code_7(
    ssh_server: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(sftp_config(ssh_server, tmp_path, port=free_port())))
    code, out, err = cli(capsys, "backup", "list")
    assert code == ExitCode.ENVIRONMENT and out == ""
    assert err.count("\n") == 1 and "cannot connect to the SSH server at 127.0.0.1:" in err
    assert "check that the server is running" in err


def test_sftp_wrong_host_key_is_refused(
    ssh_server: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{ssh_server.port} {keygen(tmp_path / 'impostor')}\n")
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(sftp_config(ssh_server, tmp_path, known_hosts=known)))
    code, _out, err = cli(capsys, "backup", "init")
    assert code == ExitCode.ENVIRONMENT and err.count("\n") == 1
    assert "host key" in err and "has changed" in err and "refusing to connect" in err
    assert not (tmp_path / "remote").exists()


def test_s3_wrong_credentials_are_one_line_and_exit_code_14(
    s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(s3_config(s3_server, tmp_path, s3_server.new_bucket())))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret")
    code, out, err = cli(capsys, "backup", "init")
    assert code == ExitCode.CREDENTIALS and err.count("\n") == 1
    assert "rejected the S3 credentials" in err and "AWS_SECRET_ACCESS_KEY" in err
    assert "definitely-not-the-secret" not in out + err and s3_server.secret not in out + err


def test_s3_server_down_is_one_line_and_exit_code_7(
    s3_server: S3Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = s3_config(s3_server, tmp_path, "ck-bucket", endpoint_url=endpoint, connect_timeout=2)
    monkeypatch.setenv("CLAWKEEPER_CONFIG", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    code, _out, err = cli(capsys, "backup", "list")
    assert code == ExitCode.ENVIRONMENT and err.count("\n") == 1
    assert f"cannot reach the S3 server at {endpoint}" in err


def test_a_password_in_the_url_is_refused_and_never_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sftp://backup:hunter2-secret@127.0.0.1:{free_port()}{tmp_path}/repo"
    code, out, err = cli(capsys, "backup", "init", "--repo", url)
    assert code == ExitCode.USAGE and err.count("\n") == 1 and "contains a password" in err
    ledger = load_config().settings.ledger.path
    stored = b"".join(p.read_bytes() for p in ledger.parent.glob(ledger.name + "*"))
    assert b"backup init" in stored  # the run was recorded ...
    assert b"hunter2-secret" not in stored and "hunter2-secret" not in out + err  # ... without the password
