"""Starting and stopping the probe model as its own process, where the gateway can reach it.

The gateway calls the model, so the server must listen on the loopback *the gateway* sees: for a
lab target that is inside the lab's network namespace, so the server is started through the
target's `exec_prefix` (e.g. `nsenter -t <pid> -n -m --`). It writes `{port, pid}` to a ready file
once bound; a port already in use makes it exit with code 8, reported as such.
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
    ready = workdir / "model-server.ready"
    ready.unlink(missing_ok=True)
    log_path = workdir / "model-requests.jsonl"
    server_log = workdir / "model-server.log"
    argv = [
        *exec_prefix,
        python or sys.executable,
        "-m",
        "clawkeeper.probes.model_server",
        "--port",
        str(port),
        "--log",
        str(log_path),
        "--ready-file",
        str(ready),
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
        info = _read_ready(ready)
        if info is not None:
            return ModelServerProcess(process, int(info["port"]), ModelLog(log_path), server_log)
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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("port"), int) else None


def _tail(path: Path, limit: int = 300) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines())[-limit:]
