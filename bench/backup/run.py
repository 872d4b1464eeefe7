"""clawkeeper vs restic on the agent-like corpus, side by side in one run.

    .venv/bin/python bench/backup/run.py --workdir /tmp/ck-bench            # ~1 GiB corpus
    .venv/bin/python bench/backup/run.py --workdir /tmp/ck-bench4 --scale 4 # memory flatness

Both tools encrypt (restic always does; clawkeeper with its default AES-256-GCM). clawkeeper runs
twice: unlocked by a 0600 key file ("clawkeeper", what unattended backups use) and by a
passphrase from the environment ("clawkeeper-passphrase", as restic is). The steps alternate
between the tools so neither gets a warmer cache: first backup, backup with nothing changed, the
5 % change (bench/backup/corpus.py), backup after it, full restore into an empty folder, full
read-back verify (`restic check --read-data`). Each step runs under /usr/bin/time (wall time,
peak RSS of the largest process) while the PSS of the whole process tree is sampled. The
database is held open by a live writer process throughout (its 5 % change goes through that
connection), as an agent would.

Results go to <workdir>/results.json and one Markdown table per clawkeeper mode on stdout (for
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402

ROOT = HERE.parent.parent
CLAWKEEPER = ROOT / ".venv" / "bin" / "clawkeeper"
PASSWORD = "benchmark-passphrase-not-secret"  # noqa: S105 - a throwaway benchmark repository

TARGETS = {  # issue 3: clawkeeper / restic must be at most
    "first backup (s)": 1.0,
    "re-backup, nothing changed (s)": 0.5,
    "backup after 5% change (s)": 0.5,
    "repository growth from 5% change (bytes)": 0.3,
    "full restore (s)": 0.6,
    "full read-back verify (s)": 0.6,
}

WRITER = r"""
import sqlite3, sys
sys.path.insert(0, sys.argv[2])
import corpus
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("INSERT INTO memory (kind, text, embedding, updated) VALUES ('live', 'started', x'00', 0)")
conn.commit()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "change":
        print(corpus.change(__import__("pathlib").Path(sys.argv[3]), db=conn), flush=True)
"""


def du(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class TreeMemory:
    """Samples the summed PSS of a process and all its descendants every `interval` seconds.

    /usr/bin/time's peak RSS is the largest single process; clawkeeper's verify and restore fork
    workers that share copy-on-write pages with their parent, so the tree's PSS (each shared page
    split between the processes that map it) is the honest total."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            total = 0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_full_info().pss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak / 2**20, 1)


def timed(argv: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    os.sync()
    stats_file = log.with_suffix(".time")
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(stats_file), *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        memory = TreeMemory(proc.pid)
        returncode = proc.wait(timeout=3600)
        tree_pss = memory.stop()
    wall = time.monotonic() - started
    if returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {returncode}; see {log}")
    elapsed, rss_kb, user, system = stats_file.read_text().split()[-4:]
    return {
        "wall_s": round(wall, 3),
        "time_s": float(elapsed),
        "peak_rss_mb": round(int(rss_kb) / 1024, 1),  # the largest single process
        "peak_tree_pss_mb": tree_pss,  # all its processes together (sampled every 0.1 s)
        "user_s": float(user),
        "sys_s": float(system),
    }


def precompile() -> None:
    """Byte-compile clawkeeper's sources next to them (`__pycache__`, ignored by git). An installed
    package ships compiled, and a checkout compiles on first use, unless `PYTHONDONTWRITEBYTECODE`
    is set (it is on the project's machines): then every timed command would recompile ~45
    modules (~90 ms). The installed dependencies are compiled already (pip does that)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)


def drop_caches(enabled: bool) -> None:
    if enabled:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


class Tool:
    def __init__(self, name: str, workdir: Path, source: Path) -> None:
        self.name = name
        self.repo = workdir / f"repo-{name}"
        self.workdir = workdir
        self.source = source
        self.env = {
            **os.environ,
            "CLAWKEEPER_BACKUP_PASSPHRASE": PASSWORD,
            "RESTIC_PASSWORD": PASSWORD,
            "RESTIC_CACHE_DIR": str(workdir / "restic-cache"),
            "XDG_STATE_HOME": str(workdir / "xdg-state"),
            "XDG_CACHE_HOME": str(workdir / "xdg-cache"),
            "XDG_CONFIG_HOME": str(workdir / "xdg-config"),
        }

    def argv(self, step: str) -> list[str]:
        ck = [str(CLAWKEEPER), "backup"]
        if self.name.startswith("clawkeeper"):
            # "clawkeeper": unlocked by its 0600 key file (what unattended backups use);
            # "clawkeeper-passphrase": by the passphrase in the environment, like restic
            key_file = self.workdir / "clawkeeper.key"
            key = [] if self.name.endswith("passphrase") else ["--key-file", str(key_file)]
            return {
                "init": [*ck, "init", "--repo", str(self.repo), *key],
                "backup": [*ck, "create", "--repo", str(self.repo), *key, "--state-dir", str(self.source)],
                "restore": [
                    *ck,
                    "restore",
                    "latest",
                    "--repo",
                    str(self.repo),
                    *key,
                    "--to",
                    str(self.restore_dir),
                ],
                "verify": [*ck, "verify", "--repo", str(self.repo), *key, "--read-data"],
            }[step]
        return {
            "init": ["restic", "-r", str(self.repo), "init"],
            "backup": ["restic", "-r", str(self.repo), "backup", str(self.source)],
            "restore": [
                "restic",
                "-r",
                str(self.repo),
                "restore",
                "latest",
                "--target",
                str(self.restore_dir),
            ],
            "verify": ["restic", "-r", str(self.repo), "check", "--read-data"],
        }[step]

    round = 0  # restores of later rounds go to folders of their own

    @property
    def restore_dir(self) -> Path:
        return self.workdir / f"restore-{self.name}" / str(self.round)

    def run(self, step: str, label: str) -> dict[str, float]:
        return timed(self.argv(step), self.env, self.workdir / "logs" / f"{self.name}-{label}.log")


def check_restore(tool: Tool, source: Path) -> dict[str, Any]:
    """Restored plain files must equal the source; the database must pass integrity_check."""
    restored_root = tool.restore_dir / str(source).lstrip("/")
    mismatched = 0
    compared = 0
    for path in source.rglob("*"):
        if not path.is_file() or path.name.endswith(("-wal", "-shm")) or path.suffix == ".sqlite":
            continue
        other = restored_root / path.relative_to(source)
        compared += 1
        if (
            not other.is_file()
            or other.stat().st_size != path.stat().st_size
            or other.read_bytes() != path.read_bytes()
        ):
            mismatched += 1
    db = restored_root / "state" / "memory.sqlite"
    conn = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM memory").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        integrity, rows = f"error: {exc}", -1
    finally:
        conn.close()
    return {
        "files_compared": compared,
        "files_mismatched": mismatched,
        "db_integrity": integrity,
        "db_rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument(
        "--drop-caches", action="store_true", help="drop the page cache before each step (root)"
    )
    parser.add_argument("--tools", default="clawkeeper,clawkeeper-passphrase,restic")
    parser.add_argument(
        "--rounds", type=int, default=3, help="restore and verify this many times each (median counts)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the repositories and restores afterwards")
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    if "restic" in args.tools.split(",") and shutil.which("restic") is None:
        raise SystemExit(
            "restic is not installed: `apt-get install -y restic` (Debian bookworm: 0.14.0), "
            "or run clawkeeper alone with --tools clawkeeper,clawkeeper-passphrase"
        )
    corpus_root = workdir / "corpus"
    source = corpus_root / ".openclaw"
    if not source.exists():
        print(f"generating the scale-{args.scale} corpus in {corpus_root} ...", flush=True)
        t = time.monotonic()
        corpus.generate(corpus_root, args.scale)
        print(f"  {du(source) / 1e6:.0f} MB in {time.monotonic() - t:.0f}s", flush=True)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    precompile()
    tools = [Tool(name, workdir, source) for name in args.tools.split(",")]
    for tool in tools:
        if tool.repo.exists() or tool.restore_dir.parent.exists():
            # deleting thousands of files slows creating new ones on ext4 for minutes afterwards
            # (it avoids recently freed inodes), which would distort the restore timings
            raise SystemExit(
                f"{workdir} holds a previous run's repositories; remove them and wait 5 min, "
                "or use a new --workdir"
            )
        tool.run("init", "init")

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(source / "state" / "memory.sqlite"), str(HERE), str(corpus_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "ready"
    results: dict[str, dict[str, Any]] = {t.name: {} for t in tools}
    try:
        for label, step in (("first backup", "backup"), ("re-backup, nothing changed", "backup")):
            for tool in tools:
                drop_caches(args.drop_caches)
                results[tool.name][label] = tool.run(step, label.split(",")[0].replace(" ", "-"))
                results[tool.name][f"repo after {label}"] = du(tool.repo)
                print(f"{tool.name:21} {label}: {results[tool.name][label]}", flush=True)
        writer.stdin.write("change\n")
        writer.stdin.flush()
        print(f"change: {writer.stdout.readline().strip()}", flush=True)
        for tool in tools:
            drop_caches(args.drop_caches)
            results[tool.name]["backup after 5% change"] = tool.run("backup", "after-change")
            results[tool.name]["repo after change"] = du(tool.repo)
            print(f"{tool.name:21} after change: {results[tool.name]['backup after 5% change']}", flush=True)
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)
    # restores and verifies change nothing: each runs `--rounds` times, the tools' order rotating
    # between rounds, and the median round counts (the kernel's share of a restore, writing a
    # gigabyte into the page cache, varies by 2x from one run to the next on these machines)
    for label, step in (("full restore", "restore"), ("full read-back verify", "verify")):
        rounds: dict[str, list[dict[str, float]]] = {tool.name: [] for tool in tools}
        for round_no in range(args.rounds):
            for tool in tools[round_no % len(tools) :] + tools[: round_no % len(tools)]:
                tool.round = round_no
                drop_caches(args.drop_caches)
                rounds[tool.name].append(tool.run(step, f"{label.replace(' ', '-')}-{round_no}"))
                print(f"{tool.name:21} {label} #{round_no}: {rounds[tool.name][-1]}", flush=True)
        for tool in tools:
            runs = sorted(rounds[tool.name], key=lambda r: r["time_s"])
            every = [r["time_s"] for r in rounds[tool.name]]
            results[tool.name][label] = {**runs[len(runs) // 2], "rounds": every}
            tool.round = 0
    for tool in tools:
        results[tool.name]["restore check"] = check_restore(tool, source)
        print(f"{tool.name:21} restore check: {results[tool.name]['restore check']}", flush=True)

    summary = {"corpus_bytes": du(source), "scale": args.scale, "results": results}
    if "restic" in results:
        summary["tables"] = {
            name: table(results[name], results["restic"]) for name in results if name.startswith("clawkeeper")
        }
        for name, rows in summary["tables"].items():
            print(f"\n{name} vs restic")
            print(render(rows, summary["corpus_bytes"]))
    (workdir / "results.json").write_text(json.dumps(summary, indent=2))
    if not args.keep:
        for tool in tools:
            shutil.rmtree(tool.repo, ignore_errors=True)
            shutil.rmtree(tool.restore_dir.parent, ignore_errors=True)
        (workdir / "clawkeeper.key").unlink(missing_ok=True)
    return 0


def table(ck: dict[str, Any], restic: dict[str, Any]) -> list[dict[str, Any]]:
    def growth(r: dict[str, Any]) -> int:
        return int(r["repo after change"] - r["repo after re-backup, nothing changed"])

    rows = [
        ("first backup (s)", ck["first backup"]["time_s"], restic["first backup"]["time_s"]),
        (
            "re-backup, nothing changed (s)",
            ck["re-backup, nothing changed"]["time_s"],
            restic["re-backup, nothing changed"]["time_s"],
        ),
        (
            "backup after 5% change (s)",
            ck["backup after 5% change"]["time_s"],
            restic["backup after 5% change"]["time_s"],
        ),
        ("repository growth from 5% change (bytes)", growth(ck), growth(restic)),
        ("full restore (s)", ck["full restore"]["time_s"], restic["full restore"]["time_s"]),
        (
            "full read-back verify (s)",
            ck["full read-back verify"]["time_s"],
            restic["full read-back verify"]["time_s"],
        ),
        (
            "repository after first backup (bytes)",
            ck["repo after first backup"],
            restic["repo after first backup"],
        ),
        (
            "peak RSS, first backup (MB)",
            ck["first backup"]["peak_rss_mb"],
            restic["first backup"]["peak_rss_mb"],
        ),
        ("peak RSS, restore (MB)", ck["full restore"]["peak_rss_mb"], restic["full restore"]["peak_rss_mb"]),
        (
            "peak RSS, verify (MB)",
            ck["full read-back verify"]["peak_rss_mb"],
            restic["full read-back verify"]["peak_rss_mb"],
        ),
        *(
            (
                f"peak PSS of all processes, {label} (MB)",
                ck[step]["peak_tree_pss_mb"],
                restic[step]["peak_tree_pss_mb"],
            )
            for label, step in (
                ("first backup", "first backup"),
                ("restore", "full restore"),
                ("verify", "full read-back verify"),
            )
        ),
    ]
    out = []
    for name, a, b in rows:
        ratio = a / b if b else None
        target = TARGETS.get(name)
        out.append(
            {
                "metric": name,
                "clawkeeper": a,
                "restic": b,
                "ratio": None if ratio is None else round(ratio, 3),
                "target": target,
                "met": None if target is None or ratio is None else ratio <= target,
            }
        )
    return out


def render(rows: list[dict[str, Any]], corpus_bytes: int) -> str:
    lines = [
        f"corpus: {corpus_bytes / 1e6:.0f} MB",
        "",
        "| metric | clawkeeper | restic | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = f"≤ {r['target']}x" if r["target"] is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(
            f"| {r['metric']} | {r['clawkeeper']} | {r['restic']} | {r['ratio']} | {target} | {met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
