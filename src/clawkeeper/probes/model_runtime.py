"""Starting and stopping the probe model as its own process, where the gateway can reach it.

The gateway calls the model, so the server must listen on the loopback *the gateway* sees: for a
lab target that is inside the lab's network namespace, so the server is started through the
target's `exec_prefix` (e.g. `nsenter -t <pid> -n -m --`). Its stdout goes to a file opened here,
on the host side, and carries the ready line and then every request, so nothing depends on what
the sandbox's mount namespace shows. A port already in use makes it exit with code 8.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clawkeeper.effects import fs, proc
from clawkeeper.errors import EnvironmentProblem, OperationTimeout, ResourceConflict
from clawkeeper.probes.model_log import ModelLog
from clawkeeper.probes.model_server import DEFAULT_MODEL_ID, EXIT_PORT_IN_USE, LOOPBACK

READY_TIMEOUT_S = 20.0


@dataclass
class ModelServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: ModelLog
    server_log: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        proc.stop(self.process)


def start_model_server(
    workdir: Path,
    *,
    exec_prefix: Sequence[str] = (),
    port: int = 0,
    model_id: str = DEFAULT_MODEL_ID,
    max_seconds: float = 3600.0,
    python: str | None = None,
) -> ModelServerProcess:
    """Start the server and wait until it listens. Raises ResourceConflict when the port is taken."""
    fs.ensure_dir(workdir)
    server_log = workdir / "model-requests.jsonl"
    server_log.unlink(missing_ok=True)
    argv = [
        *exec_prefix,
        python or sys.executable,
        "-m",
        "clawkeeper.probes.model_server",
        "--port",
        str(port),
        "--log",
        "-",
        "--model-id",
        model_id,
        "--max-seconds",
        str(int(max_seconds)),
        "--parent-pid",
        str(os.getpid()),
    ]
    process = proc.spawn(argv, log_path=server_log, extra_env={"PYTHONDONTWRITEBYTECODE": "1"})
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        info = _read_ready(server_log)
        if info is not None:
            return ModelServerProcess(process, int(info["port"]), ModelLog(server_log), server_log)
        code = process.poll()
        if code is not None:
            tail = _tail(server_log)
            if code == EXIT_PORT_IN_USE:
                raise ResourceConflict(
                    f"the probe model cannot listen: port {port} on {LOOPBACK} is already in use",
                    hint="set probes.model_port to a free port, or 0 to pick one automatically",
                )
            raise EnvironmentProblem(f"the probe model exited at start (code {code}): {tail}")
        time.sleep(0.05)
    proc.stop(process)
    raise OperationTimeout(
        f"the probe model did not start listening within {READY_TIMEOUT_S:g}s: {_tail(server_log)}"
    )


def _read_ready(path: Path) -> dict[str, Any] | None:
    """The server's `{"ready": {"port", "pid"}}` line, once it has printed it."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        if not line.startswith('{"ready"'):
            continue
        try:
            ready = json.loads(line).get("ready")
        except ValueError:
            continue
        if isinstance(ready, dict) and isinstance(ready.get("port"), int):
            return ready
    return None


def _tail(path: Path, limit: int = 300) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines())[-limit:]
