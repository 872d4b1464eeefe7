"""The keeper's footprint against the lab, with Prometheus beside it as the anchor, in one run.

    .venv/bin/python bench/monitor/keeper.py --workdir /tmp/ck-keeper            # 10 min + breach
    .venv/bin/python bench/monitor/keeper.py --workdir /tmp/ck-keeper --minutes 2 # quick look

What it does:
1. starts (or reuses) a lab OpenClaw instance `bench-keeper`;
2. runs `clawkeeper up --no-live-view` at a 10 s interval with the default collectors and rules
   for `--minutes`, and beside it the Debian Prometheus scraping the keeper's `/metrics` every
   10 s with the keeper's generated rule file loaded (the stack a user would otherwise run);
3. samples both processes every second (CPU time, RSS) — the keeper's numbers include the
   children it spawns (the agent's CLI for the RPC collector), reported separately;
4. injects a breach — stops the lab gateway — and times how long until the keeper reports
   GatewayNotReady firing (`/metrics` ALERTS), against interval + `for` (10 s + 2 min);
5. starts the gateway again and waits for the alert to resolve.

Results: `<workdir>/keeper-results.json` and a Markdown table on stdout for docs/benchmarks.md.
The issue's targets: keeper ≤ 1 % of one core and ≤ 100 MB RSS; breach detected within
interval + for.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
CLAWKEEPER = ROOT / ".venv" / "bin" / "clawkeeper"
INSTANCE = "bench-keeper"
INTERVAL_S = 10.0
NOT_READY_FOR_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path, exporter_port: int, gateway_port: int) -> Path:
    config = workdir / "clawkeeper.toml"
    config.write_text(
        f"""
[lab]
root = "{ROOT / ".lab"}"
port = {gateway_port}

[ledger]
path = "{workdir / "ledger.sqlite"}"

[monitor]
interval = "{int(INTERVAL_S)}s"

[monitor.store]
path = "{workdir / "monitor.sqlite"}"

[monitor.exporter]
port = {exporter_port}
""".lstrip()
    )
    return config


def run_cli(config: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLAWKEEPER), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Sampler:
    """CPU seconds and RSS of a process (and, separately, of its children), sampled every second."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self.rss: list[int] = []
        self.child_cpu = 0.0
        self._children: dict[int, float] = {}
        self.start_cpu = self._own_cpu()
        self.start = time.monotonic()

    def _own_cpu(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def sample(self) -> None:
        try:
            rss = int(self.process.memory_info().rss)
            for child in self.process.children(recursive=True):
                try:
                    t = child.cpu_times()
                    self._children[child.pid] = float(t.user + t.system)
                except psutil.Error:
                    continue
        except psutil.Error:
            return
        self.rss.append(rss)
        self.peak_rss = max(self.peak_rss, rss)

    def result(self) -> dict[str, Any]:
        wall = time.monotonic() - self.start
        own = self._own_cpu() - self.start_cpu
        times = self.process.cpu_times()
        reaped = float(times.children_user + times.children_system)
        children = max(reaped, sum(self._children.values()))
        return {
            "wall_s": round(wall, 1),
            "cpu_s": round(own, 2),
            "cpu_percent_of_one_core": round(100 * own / wall, 3),
            "children_cpu_s": round(children, 2),
            "children_cpu_percent_of_one_core": round(100 * children / wall, 3),
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "median_rss_mb": round(sorted(self.rss)[len(self.rss) // 2] / 2**20, 1) if self.rss else None,
        }


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def alert_state(port: int, alert: str) -> str | None:
    try:
        text = scrape(port)
    except OSError:
        return None
    states = [
        line.split('alertstate="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("ALERTS{") and f'alertname="{alert}"' in line and line.rstrip().endswith(" 1.0")
    ]
    return "firing" if "firing" in states else ("pending" if "pending" in states else None)


def start_prometheus(workdir: Path, exporter_port: int, rules: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (workdir / "prometheus.yml").write_text(
        f"""
global:
  scrape_interval: {int(INTERVAL_S)}s
  evaluation_interval: {int(INTERVAL_S)}s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: clawkeeper
    static_configs: [{{targets: ["127.0.0.1:{exporter_port}"]}}]
""".lstrip()
    )
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("wb"),
    )
    return proc, port


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--version", default="2026.9.6")
    parser.add_argument("--skip-breach", action="store_true")
    args = parser.parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    exporter_port = free_port()
    config = write_config(workdir, exporter_port, gateway_port=18960)

    up = run_cli(config, "lab", "up", "--name", INSTANCE, "--version", args.version, timeout=1500)
    if up.returncode != 0:
        print(up.stderr, file=sys.stderr)
        return 1
    rules = workdir / "clawkeeper-rules.yml"
    generated = run_cli(config, "alerts", "rules", "--prometheus", str(rules))
    if generated.returncode != 0:
        print(generated.stderr, file=sys.stderr)
        return 1

    keeper = subprocess.Popen(
        [str(CLAWKEEPER), "--config", str(config), "up", "--no-live-view", "--target", f"lab:{INSTANCE}"],
        stdout=(workdir / "keeper.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    prometheus, _ = start_prometheus(workdir, exporter_port, rules)
    results: dict[str, Any] = {"interval_s": INTERVAL_S, "minutes": args.minutes, "version": args.version}
    try:
        time.sleep(3)
        keeper_sampler, prom_sampler = Sampler(keeper.pid), Sampler(prometheus.pid)
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            if keeper.poll() is not None:
                raise RuntimeError(f"the keeper exited early with {keeper.returncode}; see keeper.log")
            keeper_sampler.sample()
            prom_sampler.sample()
            time.sleep(1.0)
        results["keeper"] = keeper_sampler.result()
        results["prometheus"] = prom_sampler.result()

        if not args.skip_breach:
            down = run_cli(config, "lab", "down", "--name", INSTANCE)
            if down.returncode != 0:
                raise RuntimeError(f"lab down failed: {down.stderr}")
            # measured from the moment the gateway is verified stopped (`lab down` returns then)
            stopped_at = time.monotonic()
            fired = None
            limit = stopped_at + INTERVAL_S + NOT_READY_FOR_S + 120
            while time.monotonic() < limit:
                if alert_state(exporter_port, "GatewayNotReady") == "firing":
                    fired = time.monotonic() - stopped_at
                    break
                time.sleep(1.0)
            results["breach"] = {
                "injected": "gateway stopped",
                "alert": "GatewayNotReady",
                "detected_after_s": round(fired, 1) if fired is not None else None,
                "budget_s": INTERVAL_S + NOT_READY_FOR_S,
            }
            run_cli(config, "lab", "up", "--name", INSTANCE, "--version", args.version, timeout=900)
            resolved = None
            started = time.monotonic()
            while time.monotonic() < started + 180:
                if alert_state(exporter_port, "GatewayNotReady") is None:
                    resolved = time.monotonic() - started
                    break
                time.sleep(1.0)
            results["breach"]["resolved_after_restart_s"] = round(resolved, 1) if resolved else None
    finally:
        keeper.send_signal(signal.SIGTERM)
        try:
            results["keeper_exit"] = keeper.wait(timeout=60)
        except subprocess.TimeoutExpired:
            keeper.kill()
            results["keeper_exit"] = "killed after 60 s"
        prometheus.terminate()
        prometheus.wait(timeout=30)
        run_cli(config, "lab", "down", "--name", INSTANCE)

    (workdir / "keeper-results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    k, p = results["keeper"], results["prometheus"]
    lines = [
        f"keeper at a {results['interval_s']:g} s interval against lab OpenClaw {results['version']}, "
        f"{results['minutes']:g} min, Prometheus 2.42 scraping it at the same interval:",
        "",
        "| measure | clawkeeper up | Prometheus (anchor) | target |",
        "|---|---|---|---|",
        f"| CPU, % of one core (own process) | {k['cpu_percent_of_one_core']} | "
        f"{p['cpu_percent_of_one_core']} | ≤ 1 |",
        f"| CPU of spawned agent CLIs, % of a core | {k['children_cpu_percent_of_one_core']} | - | - |",
        f"| peak RSS (MB) | {k['peak_rss_mb']} | {p['peak_rss_mb']} | ≤ 100 |",
        f"| median RSS (MB) | {k['median_rss_mb']} | {p['median_rss_mb']} | - |",
    ]
    breach = results.get("breach")
    if breach:
        lines.append(
            f"| gateway stopped → GatewayNotReady firing (s) | {breach['detected_after_s']} | - | "
            f"≤ {breach['budget_s']:g} (interval + for) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
