"""Chaos: kill -9 backups and prunes at random moments; the repository must always verify.

Each trial changes the source a little (transcript appends, new and deleted files, database
writes), starts a backup or a prune in a child process, and SIGKILLs it after a random delay
drawn across the operation's measured duration (counted from when the child has imported
everything and unlocked the repository, so kills land in the operation, not in start-up).
Then, in this process:
  1. `verify --read-data` must pass (leftovers of the killed run are allowed, damage is not);
  2. the next backup must succeed, and the repository must verify again.
Prunes run with no grace period, and older snapshots are forgotten first, so killed prunes land
in the middle of real sweeps (index rewrites, pack deletions) as well as marks.

    python tests/chaos/kill9.py --trials 50            # the full run (a few minutes)
    pytest tests/chaos                                 # the reduced CI form (10 trials)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.forget import forget_snapshots
from clawkeeper.backup.prune import PruneOptions, prune_repository
from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.retention import RetentionPolicy
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.verify import VerifyOptions, verify_repository

PACK_SIZE = 512 * 1024  # small packs: many pack/index writes for a kill to land between


@dataclass
class Outcome:
    trials: int = 0
    killed: int = 0
    finished_before_kill: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return self.__dict__


def _open(repo: Path, key: Path) -> Repository:
    return Repository.open(LocalTarget(repo), Credentials(key_file=key))


def worker(operation: str, repo: Path, key: Path, source: Path) -> None:
    """What the child process runs (and what gets killed)."""
    repository = _open(repo, key)
    print("go", flush=True)  # imports and key done: the parent's kill clock starts now
    if operation == "backup":
        create_snapshot(repository, plain_sources([source]))
    else:
        prune_repository(repository, PruneOptions(grace_s=0, repack_below=0.5))


def build_source(source: Path, rng: random.Random) -> None:
    (source / "sessions").mkdir(parents=True)
    (source / "models").mkdir()
    for i in range(120):
        lines = "".join(
            json.dumps({"n": n, "text": f"message {i}-{n} " * rng.randint(1, 20)}) + "\n" for n in range(40)
        )
        (source / "sessions" / f"s{i:03d}.jsonl").write_text(lines)
    for i in range(4):
        (source / "models" / f"m{i}.bin").write_bytes(rng.randbytes(1_500_000))
    conn = sqlite3.connect(source / "memory.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE memory (id INTEGER PRIMARY KEY, text TEXT, vec BLOB)")
    conn.executemany(
        "INSERT INTO memory (text, vec) VALUES (?, ?)",
        [(f"fact {i} " * 10, rng.randbytes(512)) for i in range(4000)],
    )
    conn.commit()
    conn.close()


def mutate_source(source: Path, rng: random.Random, trial: int) -> None:
    sessions = sorted((source / "sessions").iterdir())
    for path in rng.sample(sessions, k=min(10, len(sessions))):
        with path.open("a") as handle:
            handle.write(json.dumps({"trial": trial, "text": "appended " * rng.randint(1, 30)}) + "\n")
    if rng.random() < 0.5:
        (source / "models" / f"new-{trial}.bin").write_bytes(rng.randbytes(rng.randint(10_000, 900_000)))
    extra = sorted((source / "models").glob("new-*.bin"))
    if extra and rng.random() < 0.4:
        rng.choice(extra).unlink()
    conn = sqlite3.connect(source / "memory.sqlite")
    conn.executemany("INSERT INTO memory (text, vec) VALUES (?, ?)", [("new", rng.randbytes(512))] * 50)
    for _ in range(50):
        conn.execute("UPDATE memory SET text = ? WHERE id = ?", (f"edit {trial}", rng.randint(1, 4000)))
    conn.commit()
    conn.close()


def _spawn(operation: str, repo: Path, key: Path, source: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            operation,
            str(repo),
            str(key),
            str(source),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_ready(proc: subprocess.Popen[bytes]) -> float:
    """Block until the worker says it starts the operation; returns that moment."""
    assert proc.stdout is not None
    proc.stdout.readline()
    return time.monotonic()


def _timed(operation: str, repo: Path, key: Path, source: Path) -> float:
    proc = _spawn(operation, repo, key, source)
    started = _wait_ready(proc)
    _out, err = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"calibration {operation} failed: {err.decode(errors='replace')[-500:]}")
    return time.monotonic() - started


def _check(repo: Path, key: Path, where: str, outcome: Outcome) -> bool:
    report = verify_repository(_open(repo, key), VerifyOptions(read_data=True))
    if not report.outcome.ok:
        outcome.failures.append(f"{where}: {[p.message for p in report.problems][:3]}")
        return False
    return True


def run_trials(trials: int, seed: int, workdir: Path, log: bool = False) -> Outcome:
    rng = random.Random(seed)
    repo, key, source = workdir / "repo", workdir / "repo.key", workdir / "source"
    init_repository(LocalTarget(repo), Credentials(), new_key_file=key, pack_size=PACK_SIZE)
    build_source(source, rng)
    # calibrate: how long a backup and a prune take from process start on this machine
    durations = {"backup": _timed("backup", repo, key, source)}
    mutate_source(source, rng, -1)
    durations["backup"] = max(durations["backup"], _timed("backup", repo, key, source))
    durations["prune"] = _timed("prune", repo, key, source)
    outcome = Outcome()
    for trial in range(trials):
        mutate_source(source, rng, trial)
        operation = "prune" if rng.random() < 0.35 else "backup"
        if operation == "prune":
            forget_snapshots(_open(repo, key), RetentionPolicy(last=2))
        delay = rng.uniform(0.0, durations[operation] * 0.9)
        proc = _spawn(operation, repo, key, source)
        _wait_ready(proc)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            outcome.killed += 1
        proc.wait(timeout=300)
        if proc.returncode not in (0, -signal.SIGKILL):
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            outcome.failures.append(f"trial {trial}: {operation} exited {proc.returncode}: {err[-300:]}")
        elif proc.returncode == 0:
            outcome.finished_before_kill += 1
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        outcome.trials += 1
        outcome.by_operation[operation] = outcome.by_operation.get(operation, 0) + 1
        where = f"trial {trial} ({operation} killed after {delay:.2f}s)"
        if not _check(repo, key, where, outcome):
            break
        try:
            started = time.monotonic()
            create_snapshot(_open(repo, key), plain_sources([source]))
            # later backups are incremental and quicker: aim the next kills at their real length
            durations["backup"] = time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - a chaos finding to report, not to hide
            outcome.failures.append(f"{where}: the next backup failed: {exc}")
            break
        if not _check(repo, key, f"{where}, after the next backup", outcome):
            break
        if log:
            print(f"{where}: ok", flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the repository here for inspection")
    parser.add_argument("--worker", nargs=4, metavar=("OP", "REPO", "KEY", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        operation, repo, key, source = args.worker
        worker(operation, Path(repo), Path(key), Path(source))
        return 0
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed}", flush=True)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=False)
        outcome = run_trials(args.trials, seed, args.workdir, log=True)
    else:
        with tempfile.TemporaryDirectory(prefix="clawkeeper-chaos-") as tmp:
            outcome = run_trials(args.trials, seed, Path(tmp), log=True)
    print(json.dumps(outcome.to_json(), indent=2))
    return 1 if outcome.failures else 0


if __name__ == "__main__":
    sys.exit(main())
