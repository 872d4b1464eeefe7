"""Installs with a fake npm: verified before they count, shared, and never left half-done."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox.install import clean_partial_installs, ensure_runtime, installed_runtime
from clawkeeper.agent.sandbox.layout import LabLayout
from clawkeeper.agent.sandbox.node import NodeToolchain
from clawkeeper.agent.sandbox.progress import ProgressEvent
from clawkeeper.errors import CommandFailed, SandboxError

FAKE_NPM = """#!{python}
# A stand-in for `npm install --global --prefix P ... openclaw@V`: lays out what npm would.
import json, os, sys
from pathlib import Path
args = sys.argv[1:]
with open({calls!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if {fail!r}:
    print("npm error code E500", file=sys.stderr)
    sys.exit(1)
prefix = Path(args[args.index("--prefix") + 1])
version = args[-1].split("@", 1)[1]
shown = {shown!r} or version
package = prefix / "lib" / "node_modules" / "openclaw"
package.mkdir(parents=True)
(package / "package.json").write_text(json.dumps({{"version": version, "engines": {{"node": ">=24.15.0"}}}}))
entry = package / "openclaw.mjs"
entry.write_text("#!/bin/sh\\necho 'OpenClaw " + shown + " (abc1234)'\\n")
entry.chmod(0o755)
(prefix / "bin").mkdir()
os.symlink("../lib/node_modules/openclaw/openclaw.mjs", prefix / "bin" / "openclaw")
"""


def fake_toolchain(tmp_path: Path, *, fail: bool = False, shown: str = "") -> tuple[NodeToolchain, Path]:
    calls = tmp_path / "npm-calls.jsonl"
    npm = tmp_path / "fakebin" / "npm"
    npm.parent.mkdir(parents=True, exist_ok=True)
    npm.write_text(FAKE_NPM.format(python=sys.executable, calls=str(calls), fail=fail, shown=shown))
    npm.chmod(npm.stat().st_mode | stat.S_IXUSR)
    toolchain = NodeToolchain(
        node=Path(sys.executable), version="24.19.0", source="configured", bin_dir=npm.parent, npm=(str(npm),)
    )
    return toolchain, calls


def test_install_is_verified_renamed_into_place_and_reused(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path / "lab")
    toolchain, calls = fake_toolchain(tmp_path)
    events: list[ProgressEvent] = []
    runtime, installed = ensure_runtime(layout, "2026.8.2", toolchain, timeout=60, progress=events.append)
    assert installed
    assert runtime.prefix == layout.runtime_dir("2026.8.2")
    assert runtime.binary.exists() and runtime.node_range() == ">=24.15.0"
    marker = json.loads((runtime.prefix / ".clawkeeper-runtime.json").read_text())
    assert marker["version"] == "2026.8.2" and marker["cli"].startswith("OpenClaw 2026.8.2")
    args = json.loads(calls.read_text().splitlines()[0])
    assert args[args.index("--cache") + 1] == str(layout.npm_cache)
    assert "--prefer-offline" in args and args[-1] == "openclaw@2026.8.2"
    assert args[args.index("--prefix") + 1] != str(runtime.prefix)  # npm wrote to a temporary sibling
    assert [e.state for e in events if e.phase == "install"][-1] == "done"
    assert not list(layout.runtimes.glob(".openclaw-2026.8.2.partial-*"))

    again, installed_again = ensure_runtime(layout, "2026.8.2", toolchain, timeout=60)
    assert not installed_again and again == runtime
    assert len(calls.read_text().splitlines()) == 1  # no second npm run


def test_a_failed_install_leaves_nothing_that_looks_installed(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path / "lab")
    toolchain, _ = fake_toolchain(tmp_path, fail=True)
    with pytest.raises(CommandFailed) as caught:
        ensure_runtime(layout, "2026.8.2", toolchain, timeout=60)
    assert "E500" in (caught.value.hint or "")  # the npm log tail says why
    assert installed_runtime(layout, "2026.8.2") is None
    assert not layout.runtime_dir("2026.8.2").exists()
    assert not list(layout.runtimes.glob(".openclaw-*.partial-*"))


def test_an_install_that_reports_another_version_is_refused(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path / "lab")
    toolchain, _ = fake_toolchain(tmp_path, shown="2026.9.6")
    with pytest.raises(SandboxError, match=r"installed openclaw 2026\.9\.6, not 2026\.8\.2"):
        ensure_runtime(layout, "2026.8.2", toolchain, timeout=60)
    assert installed_runtime(layout, "2026.8.2") is None


def test_leftovers_of_a_killed_install_are_removed_and_never_count(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path / "lab")
    partial = layout.runtime_partial_dir("2026.8.2", 999_999)
    (partial / "bin").mkdir(parents=True)
    (partial / "bin" / "openclaw").write_text("half")
    unmarked = layout.runtime_dir("2026.9.6")  # complete-looking name, but no marker: never finished
    (unmarked / "bin").mkdir(parents=True)
    (unmarked / "bin" / "openclaw").write_text("half")
    assert installed_runtime(layout, "2026.8.2") is None
    assert installed_runtime(layout, "2026.9.6") is None
    assert clean_partial_installs(layout) == [partial]
    assert not partial.exists()
    toolchain, _ = fake_toolchain(tmp_path)
    runtime, installed = ensure_runtime(layout, "2026.9.6", toolchain, timeout=60)
    assert installed and runtime.prefix == unmarked and os.access(runtime.binary, os.X_OK)
