"""Fixtures for the backup engine tests: a cheap KDF, a repository, and a small agent-like tree."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.backup import keys
from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.targets import LocalTarget

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N=2^15 costs ~0.1 s per open; tests open repositories hundreds of times."""
    monkeypatch.setattr(keys, "DEFAULT_SCRYPT", {"n": 2**10, "r": 8, "p": 1})


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def repo(repo_path: Path) -> Iterator[Repository]:
    repository = init_repository(LocalTarget(repo_path), Credentials(passphrase=PASSPHRASE))
    yield repository
    repository.close()


def reopen(repo_path: Path) -> Repository:
    return Repository.open(LocalTarget(repo_path), Credentials(passphrase=PASSPHRASE))


def make_database(path: Path, rows: int = 2000, *, wal: bool = True) -> None:
    conn = sqlite3.connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS memory (id INTEGER PRIMARY KEY, text TEXT, vec BLOB)")
        conn.executemany(
            "INSERT INTO memory (text, vec) VALUES (?, ?)",
            [(f"note {i} " * 20, os.urandom(256)) for i in range(rows)],
        )
        conn.execute("PRAGMA user_version = 15")
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def agent_state(tmp_path: Path) -> Path:
    """A small OpenClaw-like state dir: config, secrets, a WAL database, transcripts, junk."""
    state = tmp_path / "home" / ".openclaw"
    (state / "credentials" / "whatsapp").mkdir(parents=True)
    (state / "agents" / "main" / "sessions").mkdir(parents=True)
    (state / "agents" / "main" / "agent").mkdir(parents=True)
    (state / "agents" / "main" / "tmp").mkdir(parents=True)
    (state / "state").mkdir()
    (state / "workspace" / "memory").mkdir(parents=True)
    (state / "extensions" / "plug" / "node_modules" / "dep").mkdir(parents=True)
    (state / "tmp").mkdir()
    (state / "npm").mkdir()
    (state / "openclaw.json").write_text(
        '{ meta: { lastTouchedVersion: "2026.8.2" }, gateway: { port: 18996 } }\n'
    )
    secret = state / ".env"
    secret.write_text("OPENAI_API_KEY=sk-test\n")
    secret.chmod(0o600)
    creds = state / "credentials" / "whatsapp" / "creds.json"
    creds.write_text('{"token": "t"}')
    creds.chmod(0o600)
    for i in range(5):
        (state / "agents" / "main" / "sessions" / f"s{i}.jsonl").write_text(
            "".join(f'{{"role":"user","n":{n},"text":"hello {i}"}}\n' for n in range(50))
        )
    (state / "workspace" / "MEMORY.md").write_text("# memory\n")
    (state / "workspace" / "memory" / "2026-11-01.md").write_text("a day\n")
    (state / "extensions" / "plug" / "index.js").write_text("export {}\n")
    (state / "extensions" / "plug" / "node_modules" / "dep" / "big.js").write_text("x" * 1000)
    (state / "tmp" / "lock").write_text("1")
    (state / "npm" / "cache").write_text("c")
    (state / "agents" / "main" / "tmp" / "scratch").write_text("s")
    (state / "gateway.pid").write_text("123")
    make_database(state / "state" / "openclaw.sqlite")
    make_database(state / "agents" / "main" / "agent" / "openclaw-agent.sqlite", rows=500)
    return state
