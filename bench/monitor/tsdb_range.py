"""Range queries over 30 days of 10-second samples: clawkeeper's store vs Prometheus, side by side.

    .venv/bin/python bench/monitor/tsdb_range.py --workdir /tmp/ck-tsdb-bench        # ~2 min
    .venv/bin/python bench/monitor/tsdb_range.py --workdir /tmp/ck-tsdb-bench --no-prometheus

Generates 30 days of 10 s samples (259,200 points a series) for 5 series of a gauge (a seeded
random walk, two decimals), writes them through `TimeSeriesStore.write` (one transaction per day
of data), runs maintenance once (rolls the whole backlog up), then times, median of --runs:

  (a) a 30-day range of one series at the resolution the store picks with default retention
      (raw 3 d, so 1-minute rollups: 43,200 points);
  (b) the same range forced to raw samples (259,200 points);
  (c) the same range with a 8,640 s step, ~300 points, resolution picked by the store (1 h);
  (d) (c) forced to read raw samples (what Prometheus does for the same question);
  plus the time to write one keeper tick (60 samples of 60 series, one transaction) into the
  full store, and one steady-state maintenance pass after a minute of ticks.

The anchor is Prometheus 2.42 (Debian): the same samples go through `promtool tsdb
create-blocks-from openmetrics` into a TSDB, `prometheus` serves it on 127.0.0.1, and the same
questions go to its HTTP API: (b) as the instant query `bench_gauge{series="0"}[30d]`, (c)/(d) as
`query_range` of `avg_over_time(bench_gauge{series="0"}[8640s])` with step 8640 s, evaluated so
each window holds exactly the samples of clawkeeper's bucket (the averages are compared). (a)
has no Prometheus counterpart: it refuses more than 11,000 points per series in one query.
Prometheus is timed twice: its own execution time (`stats=all`, `execTotalTime`) and the HTTP
round trip including JSON; clawkeeper's times are in-process calls (the way the keeper, the rule
engine and `clawkeeper metrics` use the store). The systems alternate run by run.

Results: a Markdown table on stdout and bench/results/tsdb_range.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "src"))

from clawkeeper.monitor.model import Matcher, MatchOp, Resolution, Sample, labels_of  # noqa: E402
from clawkeeper.monitor.settings import StoreSettings  # noqa: E402
from clawkeeper.monitor.tsdb import TimeSeriesStore  # noqa: E402

DAY = 86400
DAYS = 30
INTERVAL = 10
SERIES = 5
TICK_SERIES = 60
STEP = DAYS * DAY // 300  # 8,640 s: 300 points over 30 days
TARGET_MS = 100.0  # issue 5: a 30-day range query answers in under 100 ms
METRIC = "bench_gauge"
RESULTS = ROOT / "bench" / "results" / "tsdb_range.json"


def generate(end: int) -> dict[str, list[tuple[int, float]]]:
    """Per series label value: (ts, value) every INTERVAL s for DAYS days before `end`."""
    rng = random.Random(5)  # seeded: every run writes the same data
    start = end - DAYS * DAY
    data = {}
    for series in range(SERIES):
        value = 50.0
        points = []
        for ts in range(start, end, INTERVAL):
            value = min(100.0, max(0.0, value + rng.gauss(0, 1.5)))
            points.append((ts, round(value, 2)))
        data[str(series)] = points
    return data


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


# --- clawkeeper ----------------------------------------------------------------------------------


def fill_store(path: Path, data: dict[str, list[tuple[int, float]]], end: int) -> dict[str, float]:
    # keep every raw sample for the forced-raw query; readers below use the default retention
    settings = StoreSettings(path=path, raw_retention=(DAYS + 1) * DAY)
    out: dict[str, float] = {}
    with TimeSeriesStore(path, settings=settings, clock=lambda: float(end)) as store:
        labels = {series: labels_of(series=series) for series in data}
        per_day = DAY // INTERVAL
        total = 0
        started = time.perf_counter()
        for day in range(DAYS):
            batch = [
                Sample(METRIC, value, float(ts), labels[series])
                for series, points in data.items()
                for ts, value in points[day * per_day : (day + 1) * per_day]
            ]
            total += store.write(batch)
        out["write_s"] = time.perf_counter() - started
        out["write_samples_per_s"] = total / out["write_s"]
        out["samples"] = total
        maintain_ms, result = timed(lambda: store.maintain(float(end)))
        out["first_maintenance_s"] = maintain_ms / 1000
        out["minute_buckets"] = result.minute_buckets
        out["hour_buckets"] = result.hour_buckets

        # the keeper's tick: 60 series, one sample each, one transaction, into the full store
        ticks = []
        tick_labels = [labels_of(slot=str(i)) for i in range(TICK_SERIES)]
        for k in range(1, 121):
            ts = float(end + INTERVAL * k)
            samples = [Sample("bench_tick", float(i + k), ts, tick_labels[i]) for i in range(TICK_SERIES)]
            ms, _ = timed(lambda samples=samples: store.write(samples))
            ticks.append(ms)
        out["tick_write_ms"] = median(ticks[1:])  # the first tick creates the 60 series
        out["tick_write_ms_p90"] = sorted(ticks[1:])[int(0.9 * len(ticks[1:]))]
        steady, _ = timed(lambda: store.maintain(float(end + INTERVAL * 121)))
        out["steady_maintenance_ms"] = steady
        stats = store.stats()
        out["file_bytes"] = stats.file_bytes
        out["raw_rows"] = stats.raw_rows
        out["minute_rows"] = stats.minute_rows
        out["hour_rows"] = stats.hour_rows
    with sqlite3.connect(path) as conn:  # fold the WAL in so the reader sees one settled file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return out


def clawkeeper_queries(
    reader: TimeSeriesStore, end: int
) -> dict[str, Callable[[], list[tuple[float, float]]]]:
    start = float(end - DAYS * DAY)
    last = float(end - INTERVAL)  # the newest sample
    one = [Matcher("series", MatchOp.EQ, "0")]

    def run(resolution: Resolution | None, step: float | None) -> Callable[[], list[tuple[float, float]]]:
        def query() -> list[tuple[float, float]]:
            [series] = reader.range(METRIC, one, start=start, end=last, resolution=resolution, step=step)
            return [(p.ts, p.value) for p in series.points] if step else [(0.0, float(len(series.points)))]

        return query

    return {
        "a": run(None, None),
        "b": run(Resolution.RAW, None),
        "c": run(None, STEP),
        "d": run(Resolution.RAW, STEP),
    }


# --- Prometheus ----------------------------------------------------------------------------------


def write_openmetrics(path: Path, data: dict[str, list[tuple[int, float]]]) -> None:
    with path.open("w") as out:
        out.write(f"# TYPE {METRIC} gauge\n")
        for series, points in data.items():
            out.writelines(f'{METRIC}{{series="{series}"}} {value} {ts}\n' for ts, value in points)
        out.write("# EOF\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_prometheus(workdir: Path, storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "/usr/bin/prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            "--storage.tsdb.retention.time=400d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prometheus exited {proc.returncode}; see {workdir / 'prometheus.log'}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("prometheus did not become ready within 120 s")


def prometheus_queries(
    client: httpx.Client, url: str, end: int
) -> dict[str, Callable[[], tuple[float, list[tuple[float, float]]]]]:
    """Each returns (server execution ms, points); the caller times the round trip."""
    start = end - DAYS * DAY
    selector = f'{METRIC}{{series="0"}}'

    def raw() -> tuple[float, list[tuple[float, float]]]:
        body = _get(client, f"{url}/api/v1/query", {"query": f"{selector}[{DAYS}d]", "time": end - 5})
        [result] = body["data"]["result"]
        return _exec_ms(body), [(0.0, float(len(result["values"])))]

    def step() -> tuple[float, list[tuple[float, float]]]:
        # a window (t - STEP, t] ending 5 s after a bucket's last sample holds exactly that bucket
        params = {
            "query": f"avg_over_time({selector}[{STEP}s])",
            "start": start + STEP - 5,
            "end": end - 5,
            "step": STEP,
        }
        body = _get(client, f"{url}/api/v1/query_range", params)
        [result] = body["data"]["result"]
        return _exec_ms(body), [(float(t) + 5 - STEP, float(v)) for t, v in result["values"]]

    return {"b": raw, "c": step, "d": step}


def _get(client: httpx.Client, url: str, params: dict[str, Any]) -> dict[str, Any]:
    response = client.get(url, params={**params, "stats": "all"}, timeout=60)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _exec_ms(body: dict[str, Any]) -> float:
    return float(body["data"]["stats"]["timings"]["execTotalTime"]) * 1000


# --- the run -------------------------------------------------------------------------------------

LABELS = {
    "a": "(a) 30 d, resolution picked by the store (1 m: 43,200 points)",
    "b": "(b) 30 d, raw samples (259,200 points)",
    "c": "(c) 30 d, step 8,640 s (300 points), resolution picked by the store (1 h)",
    "d": "(d) 30 d, step 8,640 s (300 points), raw samples",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ck-tsdb-bench"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-prometheus", action="store_true", help="time clawkeeper only")
    args = parser.parse_args()

    workdir: Path = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    end = int(time.time()) // 3600 * 3600  # a whole hour, so Prometheus keeps every block
    print(f"generating {DAYS} days x {SERIES} series of {INTERVAL} s samples ...", file=sys.stderr)
    data = generate(end)

    db = workdir / "monitor.sqlite"
    print("writing them through TimeSeriesStore ...", file=sys.stderr)
    writes = fill_store(db, data, end)

    prom: subprocess.Popen[bytes] | None = None
    prom_info: dict[str, Any] = {}
    prom_q: dict[str, Callable[[], tuple[float, list[tuple[float, float]]]]] = {}
    client = httpx.Client()
    try:
        if not args.no_prometheus:
            om = workdir / "samples.om"
            storage = workdir / "prometheus-data"
            write_openmetrics(om, data)
            print("promtool tsdb create-blocks-from openmetrics ...", file=sys.stderr)
            backfill_started = time.perf_counter()
            subprocess.run(
                [
                    "/usr/bin/promtool",
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--quiet",
                    "--max-block-duration=24h",
                    str(om),
                    str(storage),
                ],
                check=True,
                timeout=1800,
            )
            prom_info["backfill_s"] = time.perf_counter() - backfill_started
            om.unlink()
            prom, url = start_prometheus(workdir, storage)
            prom_info["version"] = subprocess.run(
                ["/usr/bin/prometheus", "--version"], capture_output=True, text=True, check=False, timeout=30
            ).stdout.splitlines()[0]
            prom_q = prometheus_queries(client, url, end)

        reader = TimeSeriesStore(db, readonly=True, settings=StoreSettings(path=db), clock=lambda: float(end))
        ck_q = clawkeeper_queries(reader, end)
        ck_ms: dict[str, list[float]] = {k: [] for k in ck_q}
        prom_exec: dict[str, list[float]] = {k: [] for k in prom_q}
        prom_http: dict[str, list[float]] = {k: [] for k in prom_q}
        answers: dict[str, Any] = {}
        for run in range(args.runs + 1):  # run 0 warms caches and is not counted
            for key, query in ck_q.items():
                ms, answer = timed(query)
                if run:
                    ck_ms[key].append(ms)
                answers[f"ck_{key}"] = answer
            for key, pquery in prom_q.items():
                ms, (exec_ms, answer) = timed(pquery)
                if run:
                    prom_http[key].append(ms)
                    prom_exec[key].append(exec_ms)
                answers[f"prom_{key}"] = answer
        points = {
            key: reader.range(
                METRIC,
                [Matcher("series", MatchOp.EQ, "0")],
                start=float(end - DAYS * DAY),
                end=float(end - INTERVAL),
                resolution=res,
                step=step,
            )[0]
            for key, res, step in (
                ("a", None, None),
                ("b", Resolution.RAW, None),
                ("c", None, STEP),
                ("d", Resolution.RAW, STEP),
            )
        }
        reader.close()
    finally:
        client.close()
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prom.kill()

    check = {}
    if prom_q:
        ours = dict(answers["ck_d"])
        theirs = dict(answers["prom_d"])
        common = sorted(set(ours) & set(theirs))
        check["buckets_compared"] = len(common)
        check["max_abs_difference"] = max((abs(ours[t] - theirs[t]) for t in common), default=None)
        check["raw_points"] = {"clawkeeper": answers["ck_b"][0][1], "prometheus": answers["prom_b"][0][1]}
        prom_info["blocks"] = sum(
            1 for p in (workdir / "prometheus-data").iterdir() if (p / "meta.json").exists()
        )
        prom_info["storage_bytes"] = sum(
            p.stat().st_size for p in (workdir / "prometheus-data").rglob("*") if p.is_file()
        )

    rows = []
    for key, label in LABELS.items():
        row: dict[str, Any] = {
            "query": label,
            "points": len(points[key].points),
            "resolution": points[key].resolution.value,
            "clawkeeper_ms": median(ck_ms[key]),
            "clawkeeper_ms_min": min(ck_ms[key]),
            "clawkeeper_ms_max": max(ck_ms[key]),
        }
        if key in prom_q:
            row["prometheus_exec_ms"] = median(prom_exec[key])
            row["prometheus_http_ms"] = median(prom_http[key])
            row["ratio_vs_exec"] = row["clawkeeper_ms"] / row["prometheus_exec_ms"]
            row["ratio_vs_http"] = row["clawkeeper_ms"] / row["prometheus_http_ms"]
        rows.append(row)

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": _cpus(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
        "runs": args.runs,
        "target_ms": TARGET_MS,
        "data": {"days": DAYS, "interval_s": INTERVAL, "series": SERIES},
        "writes": writes,
        "queries": rows,
        "prometheus": prom_info,
        "agreement": check,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    print(f"\nresults: {RESULTS}", file=sys.stderr)


def _cpus() -> int:
    return os.cpu_count() or 0


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    lines = [
        f"Median of {runs} runs; target: under {result['target_ms']:.0f} ms. Ratio = clawkeeper / "
        "Prometheus execution time (its HTTP round trip incl. JSON in brackets).",
        "",
        "| query | points | clawkeeper | Prometheus 2.42 exec (HTTP) | ratio |",
        "|---|---|---|---|---|",
    ]
    for row in result["queries"]:
        prom = (
            f"{row['prometheus_exec_ms']:.1f} ms ({row['prometheus_http_ms']:.1f} ms)"
            if "prometheus_exec_ms" in row
            else "n/a"
        )
        ratio = f"{row['ratio_vs_exec']:.2f} ({row['ratio_vs_http']:.2f})" if "ratio_vs_exec" in row else "—"
        lines.append(
            f"| {row['query']} | {row['points']:,} | {row['clawkeeper_ms']:.1f} ms | {prom} | {ratio} |"
        )
    w = result["writes"]
    lines += [
        "",
        "| write side | clawkeeper |",
        "|---|---|",
        f"| bulk write, {w['samples']:,} samples (one transaction a day of data) | "
        f"{w['write_s']:.1f} s ({w['write_samples_per_s']:,.0f} samples/s) |",
        f"| one keeper tick: 60 samples, one transaction (median / p90) | "
        f"{w['tick_write_ms']:.2f} ms / {w['tick_write_ms_p90']:.2f} ms |",
        f"| first maintenance: roll up 30 days ({w['minute_buckets']:,} 1 m + "
        f"{w['hour_buckets']:,} 1 h buckets) | "
        f"{w['first_maintenance_s']:.1f} s |",
        f"| steady-state maintenance pass (65 series) | {w['steady_maintenance_ms']:.1f} ms |",
        f"| database file (raw kept 31 d for (b)) | {w['file_bytes'] / 1e6:.0f} MB |",
    ]
    prom = result["prometheus"]
    if prom:
        agreement = result["agreement"]
        lines += [
            f"| Prometheus backfill (promtool, 24 h blocks) | {prom['backfill_s']:.1f} s, "
            f"{prom['blocks']} blocks, {prom['storage_bytes'] / 1e6:.0f} MB |",
            "",
            f"Agreement: {agreement['buckets_compared']} step averages compared, largest difference "
            f"{agreement['max_abs_difference']:.2g}; raw points {agreement['raw_points']}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
