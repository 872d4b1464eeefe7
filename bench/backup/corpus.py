"""Generate the agent-like benchmark corpus, and apply the "5 % change" to it.

At scale 1 (about 1 GiB, the corpus of docs/backup.md's benchmark):
  - ~600 MiB of incompressible model-like files (300 + 200 + 100 MiB);
  - ~300 MB of JSONL transcripts in ~3,400 files of 20-300 records each, 300 markdown notes,
    a config and credentials;
  - a ~100 MB WAL-mode SQLite memory database: 61,000 rows of text with 768-byte embeddings and
    an FTS5 index, held open by a live writer process during the benchmark.
`--scale 4` makes every part four times larger (for the flat-memory check).

The change: appends of 40 records to 184 text files (transcripts; notes get a new first line),
then 1,000 inserts and 1,000 updates of random rows in the database, then a checkpoint.
Everything is derived from a seed, so every run builds the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from pathlib import Path

MiB = 1024 * 1024
WORDS = (
    "agent",
    "memory",
    "tool",
    "call",
    "result",
    "user",
    "assistant",
    "cron",
    "skill",
    "workspace",
    "gateway",
    "session",
    "token",
    "channel",
    "message",
    "reply",
    "summary",
    "plan",
    "search",
    "browse",
    "file",
    "edit",
    "run",
    "test",
    "deploy",
    "update",
    "backup",
)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _record(rng: random.Random, session: int, n: int) -> str:
    role = rng.choice(("user", "assistant", "tool"))
    body = {
        "type": "message",
        "session": f"s-{session:05d}",
        "seq": n,
        "role": role,
        "ts": 1_790_000_000_000 + session * 100_000 + n * 137,
        "content": _sentence(rng, rng.randint(10, 160)),
    }
    if role == "tool":
        body["tool"] = {"name": rng.choice(("exec", "read", "write", "search")), "ok": rng.random() > 0.1}
    return json.dumps(body, separators=(",", ":")) + "\n"


def generate(root: Path, scale: int = 1, seed: int = 1) -> None:
    rng = random.Random(seed)
    state = root / ".openclaw"
    sessions = state / "agents" / "main" / "sessions"
    notes = state / "workspace" / "memory"
    models = state / "models"
    for folder in (sessions, notes, models, state / "credentials", state / "state"):
        folder.mkdir(parents=True, exist_ok=True)
    for i, size in enumerate((300, 200, 100)):
        with (models / f"model-{i}.gguf").open("wb") as handle:
            for _ in range(size * scale):
                handle.write(rng.randbytes(MiB))
    for i in range(3400 * scale):
        records = rng.randint(20, 300)
        (sessions / f"{i:05d}.jsonl").write_text("".join(_record(rng, i, n) for n in range(records)))
    for i in range(300 * scale):
        (notes / f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}-{i}.md").write_text(
            "# notes\n\n" + "\n".join(_sentence(rng, 40) for _ in range(rng.randint(5, 40))) + "\n"
        )
    (state / "openclaw.json").write_text(
        '{ meta: { lastTouchedVersion: "2026.9.6" }, gateway: { port: 18789 } }\n'
    )
    (state / ".env").write_text("OPENAI_API_KEY=sk-bench-not-a-real-key\n")
    (state / "credentials" / "creds.json").write_text(json.dumps({"token": rng.randbytes(32).hex()}))
    _database(state / "state" / "memory.sqlite", rng, scale)


def _database(path: Path, rng: random.Random, scale: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE memory (id INTEGER PRIMARY KEY, kind TEXT, text TEXT, embedding BLOB, updated INTEGER)"
    )
    conn.execute("CREATE VIRTUAL TABLE memory_fts USING fts5(text, content='memory', content_rowid='id')")
    for batch in range(61 * scale):
        rows = [
            ("fact", _sentence(rng, rng.randint(20, 120)), rng.randbytes(768), batch) for _ in range(1000)
        ]
        conn.executemany("INSERT INTO memory (kind, text, embedding, updated) VALUES (?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO memory_fts(memory_fts) VALUES ('rebuild')")
    conn.commit()
    conn.close()


def change(root: Path, seed: int = 2, db: sqlite3.Connection | None = None) -> dict[str, int]:
    """The 5 % change. Pass the live writer's connection as `db` to write through it."""
    rng = random.Random(seed)
    state = root / ".openclaw"
    transcripts = sorted((state / "agents" / "main" / "sessions").iterdir())
    notes = sorted((state / "workspace" / "memory").iterdir())
    touched = 0
    for path in rng.sample(transcripts, 154):
        with path.open("a") as handle:
            handle.write("".join(_record(rng, 99999, n) for n in range(40)))
        touched += 1
    for path in rng.sample(notes, 30):
        path.write_text(f"updated {rng.random()}\n" + path.read_text())
        touched += 1
    conn = db or sqlite3.connect(state / "state" / "memory.sqlite")
    top = int(conn.execute("SELECT max(id) FROM memory").fetchone()[0])
    conn.executemany(
        "INSERT INTO memory (kind, text, embedding, updated) VALUES (?, ?, ?, ?)",
        [("fact", _sentence(rng, 60), rng.randbytes(768), -1) for _ in range(1000)],
    )
    for _ in range(1000):
        conn.execute(
            "UPDATE memory SET text = ?, updated = -2 WHERE id = ?", (_sentence(rng, 50), rng.randint(1, top))
        )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    if db is None:
        conn.close()
    return {"text_files": touched, "db_inserts": 1000, "db_updates": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--change", action="store_true", help="apply the 5 %% change instead of generating")
    args = parser.parse_args()
    if args.change:
        print(change(args.root))
    else:
        generate(args.root, args.scale)


if __name__ == "__main__":
    main()
