"""up / status / down / destroy against a fake `openclaw` (a small Python program), no network.

The fake onboards by writing a config, and its `gateway run` serves /readyz on 127.0.0.1:<port>
and writes gateway.state.lock like the real one. That is enough to test the lab's bookkeeping:
idempotent `up`, stale PIDs, orphans of a killed run, and `down` leaving nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox import Sandbox, running_instance_names, running_lab_targets
from clawkeeper.agent.sandbox.layout import RUNTIME_MARKER, LabLayout
from clawkeeper.agent.sandbox.procscan import MARKER_ENV, processes_of_instance
from clawkeeper.config import LabSettings, ReleasesSettings
from clawkeeper.effects import proc
from clawkeeper.errors import NotFound, ResourceConflict, SandboxError

VERSION = "2026.8.2"

FAKE_OPENCLAW = r"""#!{python}
import http.server, json, os, signal, sys
from pathlib import Path
args = sys.argv[1:]
state = Path(os.environ["OPENCLAW_STATE_DIR"])
config = Path(os.environ["OPENCLAW_CONFIG_PATH"])
if args == ["--version"]:
    print("OpenClaw {version} (abc1234)")
elif args[0] == "onboard":
    data = json.loads(config.read_text())
    data["gateway"] = {{"port": int(args[args.index("--gateway-port") + 1]), "bind": "loopback"}}
    config.write_text(json.dumps(data))
    print(json.dumps({{"ok": True}}))
elif args[:2] == ["telemetry", "off"]:
    print("Anonymous feature stats disabled.")
elif args[:2] == ["gateway", "run"]:
    if {fail_start!r}:
        print("Gateway refused startup: schema 18 is newer than this build", flush=True)
        sys.exit(1)
    port = int(args[args.index("--port") + 1])
    lock = state / "tmp" / f"openclaw-{{os.getuid()}}" / "gateway.state.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({{"pid": os.getpid(), "port": port}}))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ready = {{"ready": True, "failing": []}}
            body = json.dumps(ready if self.path == "/readyz" else {{"ok": True}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    def stop(*_):
        lock.unlink()
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("[gateway] ready", flush=True)
    server.serve_forever()
else:
    print("unknown command", args, file=sys.stderr)
    sys.exit(2)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_lab(tmp_path: Path, *, fail_start: bool = False) -> LabSettings:
    """A lab root with a pre-installed fake OpenClaw and a configured fake Node (no npm, no registry)."""
    root = tmp_path / "lab"
    prefix = LabLayout(root).runtime_dir(VERSION)
    package = prefix / "lib" / "node_modules" / "openclaw"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"version": VERSION, "engines": {"node": ">=24.15.0"}}))
    entry = package / "openclaw.mjs"
    entry.write_text(FAKE_OPENCLAW.format(python=sys.executable, version=VERSION, fail_start=fail_start))
    entry.chmod(entry.stat().st_mode | stat.S_IXUSR)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "openclaw").symlink_to("../lib/node_modules/openclaw/openclaw.mjs")
    (prefix / RUNTIME_MARKER).write_text(json.dumps({"version": VERSION}))
    node_dir = tmp_path / "node" / "bin"
    node_dir.mkdir(parents=True)
    for name, body in (("node", "#!/bin/sh\necho v24.19.0\n"), ("npm", "#!/bin/sh\nexit 0\n")):
        (node_dir / name).write_text(body)
        (node_dir / name).chmod(0o755)
    return LabSettings(
        root=root, node=node_dir / "node", port=free_port(), ready_timeout=20, isolation="none"
    )


@pytest.fixture
def offline() -> ReleasesSettings:
    # Nothing listens there: any registry request would fail the test with EnvironmentProblem.
    return ReleasesSettings(registry=f"http://127.0.0.1:{free_port()}", timeout=1)


@pytest.fixture
def sandbox(tmp_path: Path, offline: ReleasesSettings) -> Iterator[Sandbox]:
    box = Sandbox(make_lab(tmp_path), name="unit", releases=offline)
    try:
        yield box
    finally:
        # never leave a fake gateway behind, whatever the test did
        for found in processes_of_instance(box.instance.root, box.instance.home):
            proc.terminate(found.pid, timeout=2)


def instance_pids(box: Sandbox) -> list[int]:
    return [p.pid for p in processes_of_instance(box.instance.root, box.instance.home)]


def test_up_onboards_starts_and_reports_a_ready_gateway(sandbox: Sandbox) -> None:
    report = sandbox.up()
    assert (report.version, report.isolation, report.already_running) == (VERSION, "none", False)
    assert report.onboarded and not report.installed
    status = sandbox.status()
    assert status.running and status.ready and status.phase == "running"
    assert status.token_fingerprint and status.token_fingerprint.startswith("sha256:")
    token = sandbox.instance.token_file.read_text().strip()
    assert token not in sandbox.instance.state_file.read_text()
    config = json.loads(sandbox.instance.config_path.read_text())
    assert config["logging"]["file"] == str(sandbox.instance.openclaw_log)  # seeded before onboarding
    assert config["update"]["checkOnStart"] is False
    assert config["gateway"]["port"] == report.port
    gateway_pid = report.pids["gateway"]
    assert MARKER_ENV in (Path(f"/proc/{gateway_pid}/environ").read_bytes().decode(errors="replace"))


def test_up_again_is_idempotent(sandbox: Sandbox) -> None:
    first = sandbox.up()
    second = sandbox.up()
    assert second.already_running and second.pids == first.pids
    assert second.notes == ("already running",)


def test_a_running_instance_refuses_another_version_or_port(sandbox: Sandbox) -> None:
    sandbox.up()
    with pytest.raises(ResourceConflict, match=r"running OpenClaw 2026\.8\.2, not 2026\.9\.6"):
        sandbox.up(version="2026.9.6")
    with pytest.raises(ResourceConflict) as caught:
        sandbox.up(port=free_port())
    assert "is running on port" in caught.value.message and "lab down" in caught.value.one_line()


def test_down_stops_everything_and_verifies_nothing_is_left(sandbox: Sandbox) -> None:
    up = sandbox.up()
    report = sandbox.down()
    assert report.was_running
    assert {s.role for s in report.stopped} >= {"gateway"}
    assert instance_pids(sandbox) == []
    assert not proc.pid_alive(up.pids["gateway"])
    status = sandbox.status()
    assert status.phase == "stopped" and not status.running and status.processes == {}
    again = sandbox.up()  # restarts without onboarding again
    assert not again.onboarded and sandbox.status().ready


def test_a_dead_gateway_shows_as_stale_and_the_next_up_restarts_it(sandbox: Sandbox) -> None:
    up = sandbox.up()
    os.kill(up.pids["gateway"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while proc.pid_alive(up.pids["gateway"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = sandbox.status()
    assert "gateway" in status.stale and not status.running
    assert running_instance_names(sandbox.lab) == []
    # still a target, so that `clawkeeper status` reports its gateway as down (exit 5)
    assert [t.label for t in running_lab_targets(sandbox.lab)] == ["lab:unit"]
    again = sandbox.up()
    assert not again.already_running and again.pids["gateway"] != up.pids["gateway"]
    assert sandbox.status().ready


def test_orphans_of_a_killed_run_are_found_by_marker_and_cleaned(sandbox: Sandbox) -> None:
    sandbox.up()
    # Simulate `lab up` killed with -9 after it started a process it never got to record.
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={**os.environ, MARKER_ENV: str(sandbox.instance.root)},
        start_new_session=True,
    )
    try:
        state = json.loads(sandbox.instance.state_file.read_text())
        state["phase"] = "starting"  # killed before it could say "running"
        sandbox.instance.state_file.write_text(json.dumps(state))
        report = sandbox.up()
        assert "cleaned up processes of an earlier, unfinished run" in report.notes
        assert orphan.wait(timeout=10) is not None  # it was stopped, by PID, before the restart
        assert set(instance_pids(sandbox)) <= set(report.pids.values())  # only what lab.json knows
    finally:
        orphan.kill()
        orphan.wait()


def test_an_interrupted_onboarding_is_redone_from_scratch(sandbox: Sandbox) -> None:
    sandbox.instance.home.mkdir(parents=True)
    (sandbox.instance.home / "half-written").write_text("x")
    sandbox.instance.root.joinpath("lab.json").write_text(
        json.dumps(
            {
                "format": 1,
                "name": "unit",
                "version": VERSION,
                "port": sandbox.lab.port,
                "isolation": "none",
                "phase": "created",
                "processes": {},
            }
        )
    )
    report = sandbox.up()
    assert report.onboarded
    assert not (sandbox.instance.home / "half-written").exists()


def test_a_gateway_that_dies_on_start_fails_with_its_log_and_leaves_nothing(
    tmp_path: Path, offline: ReleasesSettings
) -> None:
    box = Sandbox(make_lab(tmp_path, fail_start=True), name="broken", releases=offline)
    with pytest.raises(SandboxError) as caught:
        box.up()
    assert "exited before it became ready" in caught.value.message
    assert "schema 18 is newer" in (caught.value.hint or "")
    assert instance_pids(box) == []
    status = box.status()
    assert status.phase == "stopped" and status.processes == {}


def test_target_of_a_running_instance(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError, match="not running"):
        sandbox.target()
    report = sandbox.up()
    target = sandbox.target()
    assert target.label == "lab:unit"
    assert target.http_base == report.http_base and target.isolation == "none"
    assert target.state_dir == sandbox.instance.state_dir and target.exec_prefix == ()
    result = proc.run(target.argv("--version"), timeout=30, env=target.process_env())
    assert result.stdout.strip() == f"OpenClaw {VERSION} (abc1234)"
    assert [t.label for t in running_lab_targets(sandbox.lab)] == ["lab:unit"]


def test_destroy_dry_run_changes_nothing_and_destroy_removes_only_the_instance(sandbox: Sandbox) -> None:
    sandbox.up()
    plan = sandbox.destroy(dry_run=True)
    assert plan.dry_run and all(a.startswith("would ") for a in plan.actions)
    assert any("stop" in a for a in plan.actions) and sandbox.status().running
    done = sandbox.destroy()
    assert not sandbox.instance.root.exists()
    assert done.down is not None and instance_pids(sandbox) == []
    assert LabLayout(sandbox.lab.root).runtime_dir(VERSION).exists()  # installs are kept
    with pytest.raises(NotFound):
        sandbox.down()


def test_destroy_all_also_removes_installs(sandbox: Sandbox) -> None:
    sandbox.up()
    sandbox.destroy(remove_all=True)
    assert not LabLayout(sandbox.lab.root).runtimes.exists()


needs_root_namespaces = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter")),
    reason="namespace isolation needs root and util-linux here (the lab tests cover it end to end)",
)


@needs_root_namespaces
def test_namespace_isolation_with_the_lab_under_tmp(tmp_path: Path, offline: ReleasesSettings) -> None:
    settings = make_lab(tmp_path).model_copy(update={"isolation": "namespace"})
    box = Sandbox(settings, name="ns", releases=offline)
    try:
        report = box.up()
        assert report.isolation == "namespace"
        assert box.status().ready  # through the bridge from the host namespace
        target = box.target()
        links = proc.run([*target.exec_prefix, "cat", "/proc/net/dev"], timeout=10, env=target.process_env())
        assert [line.split(":")[0].strip() for line in links.stdout.splitlines()[2:]] == ["lo"]
        inside_tmp = proc.run([*target.exec_prefix, "ls", "/tmp"], timeout=10, env=target.process_env())
        assert inside_tmp.ok
        # the lab lives under /tmp here, and stays visible at its own path inside
        assert proc.run([*target.exec_prefix, "test", "-d", str(box.instance.root)], timeout=10).ok
        down = box.down()
        assert {"gateway", "holder"} <= {s.role for s in down.stopped}
        assert processes_of_instance(box.instance.root, box.instance.home) == []
    finally:
        for found in processes_of_instance(box.instance.root, box.instance.home):
            proc.terminate(found.pid, timeout=2)
