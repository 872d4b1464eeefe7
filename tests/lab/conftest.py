"""Real OpenClaw instances for lab tests, started once per session per version.

Use `lab_instance` to run a test against both versions (ids `v2026.8.2`, `v2026.9.6`):

    @pytest.mark.lab
    def test_something(lab_instance: LabInstance) -> None:
        result = proc.run(lab_instance.target.argv("health", "--json"), timeout=60,
                          env=lab_instance.target.process_env())

or `lab_pool.get("2026.9.6")` for one version. Instances live under `<repo>/.lab` (installs and
the npm cache are reused between runs), are named `t<pid>-<version>` so parallel sessions do not
collide, and are stopped and removed at the end of the session (installs and cache stay).
Instances left by a session that died are removed when the next session starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.agent.sandbox import Sandbox, UpReport
from clawkeeper.agent.sandbox.layout import LabLayout
from clawkeeper.config import LabSettings, ReleasesSettings, load_config
from clawkeeper.effects.proc import pid_alive
from clawkeeper.errors import ClawkeeperError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "clawkeeper.toml"
# version -> preferred port; distinct so both versions can run side by side
LAB_VERSIONS: dict[str, int] = {"2026.8.2": 18996, "2026.9.6": 18997}
_TEST_INSTANCE = re.compile(r"^t(\d+)-")


@dataclass
class LabInstance:
    """A running lab instance of one OpenClaw version, for the whole test session."""

    sandbox: Sandbox
    version: str
    port: int
    settings: LabSettings
    report: UpReport

    @property
    def target(self) -> OpenClawTarget:
        return self.sandbox.target()

    @property
    def home(self) -> Path:
        return self.sandbox.instance.home

    @property
    def name(self) -> str:
        return self.sandbox.name


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, avoid: set[int] | None = None) -> int:
    """The preferred port if free, else the next free one above it (another session may hold it)."""
    for port in range(preferred, preferred + 200):
        if port not in (avoid or set()) and port_is_free(port):
            return port
    raise RuntimeError(f"no free port near {preferred}")


def instance_name(version: str) -> str:
    return f"t{os.getpid()}-{version.replace('.', '-')}"


def repo_settings() -> tuple[LabSettings, ReleasesSettings]:
    settings = load_config(CONFIG, env={}).settings
    return settings.lab, settings.releases


def remove_dead_sessions_instances(lab: LabSettings, releases: ReleasesSettings) -> None:
    """Instances of test sessions whose process is gone: stop whatever they left, remove them."""
    layout = LabLayout(lab.root)

    def dead(name: str) -> bool:
        match = _TEST_INSTANCE.match(name)
        return bool(match) and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1)))

    for name in layout.instance_names():
        if dead(name):
            with contextlib.suppress(ClawkeeperError):
                Sandbox(lab, name=name, releases=releases).destroy()
    if layout.instances.is_dir():
        for lock in layout.instances.glob(".t*.lock"):  # names that never got a directory
            name = lock.name[1 : -len(".lock")]
            if dead(name) and not (layout.instances / name).exists():
                lock.unlink(missing_ok=True)


class LabPool:
    """Starts each version at most once per session; `close` stops and removes them all."""

    def __init__(self, lab: LabSettings, releases: ReleasesSettings) -> None:
        self.lab = lab
        self.releases = releases
        self.instances: dict[str, LabInstance] = {}
        self.failures: dict[str, BaseException] = {}

    def get(self, version: str) -> LabInstance:
        if version in self.failures:  # do not retry a 60 s install for every test of that version
            raise RuntimeError(f"lab instance {version} failed to start earlier") from self.failures[version]
        if version not in self.instances:
            used = {i.port for i in self.instances.values()}
            port = pick_port(LAB_VERSIONS.get(version, 18996), used)
            settings = self.lab.model_copy(update={"port": port, "version": version})
            sandbox = Sandbox(settings, name=instance_name(version), releases=self.releases)
            try:
                report = sandbox.up(version=version, port=port)
            except BaseException as exc:
                self.failures[version] = exc
                with contextlib.suppress(ClawkeeperError):
                    sandbox.destroy()
                raise
            self.instances[version] = LabInstance(sandbox, version, port, settings, report)
        return self.instances[version]

    @contextlib.contextmanager
    def private(self, version: str, tag: str, preferred_port: int) -> Iterator[Sandbox]:
        """An instance only the calling test uses (it may stop or break it); destroyed afterwards."""
        port = pick_port(preferred_port, {i.port for i in self.instances.values()})
        settings = self.lab.model_copy(update={"port": port, "version": version})
        sandbox = Sandbox(settings, name=instance_name(f"{tag}-{version}"), releases=self.releases)
        try:
            sandbox.up(version=version, port=port)
            yield sandbox
        finally:
            with contextlib.suppress(ClawkeeperError):
                sandbox.destroy()

    def close(self) -> None:
        errors = []
        for instance in self.instances.values():
            try:
                instance.sandbox.destroy()  # down (verified) + remove the instance; installs stay
            except ClawkeeperError as exc:
                errors.append(f"{instance.name}: {exc.one_line()}")
        self.instances.clear()
        if errors:
            raise RuntimeError("lab teardown left problems: " + "; ".join(errors))


@pytest.fixture(scope="session")
def lab_settings() -> LabSettings:
    """The repository's lab settings (root `<repo>/.lab`)."""
    return repo_settings()[0]


@pytest.fixture(scope="session")
def lab_pool() -> Iterator[LabPool]:
    lab, releases = repo_settings()
    remove_dead_sessions_instances(lab, releases)
    pool = LabPool(lab, releases)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session", params=list(LAB_VERSIONS), ids=[f"v{v}" for v in LAB_VERSIONS])
def lab_instance(request: pytest.FixtureRequest, lab_pool: LabPool) -> LabInstance:
    """A running lab instance, once for 2026.8.2 and once for 2026.9.6."""
    return lab_pool.get(str(request.param))
