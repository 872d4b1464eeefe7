"""Where everything of the lab lives on disk. Pure path arithmetic, no I/O.

```
<root>/
  node/<source>-<version>/bin/   node, npm, npx links (a usable bin dir for the wheel's Node)
  runtimes/openclaw-<V>/         `npm install -g --prefix` of one OpenClaw version, shared
  runtimes/.openclaw-<V>.partial-<pid>/   an install in progress (renamed into place when verified)
  runtimes/.openclaw-<V>.lock    serialises installs of one version across processes
  cache/npm/                     npm's cache, so reinstalls work offline
  logs/install-<V>.log           npm's output of the last install of a version
  instances/<name>/              one lab instance (see InstanceLayout)
  instances/.<name>.lock         held while a command changes that instance
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from clawkeeper.errors import UsageError

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
RUNTIME_MARKER = ".clawkeeper-runtime.json"
PARTIAL_INFIX = ".partial-"


def check_instance_name(name: str) -> str:
    """Instance names become directory names and labels (`lab:<name>`): keep them plain."""
    if not _NAME_RE.match(name):
        raise UsageError(
            f"invalid lab instance name {name!r}",
            hint="use 1-48 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class InstanceLayout:
    """One instance: an isolated HOME (OpenClaw state is `$HOME/.openclaw`), a private /tmp, logs."""

    root: Path  # <lab root>/instances/<name>
    name: str

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def state_dir(self) -> Path:
        return self.home / ".openclaw"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "openclaw.json"

    @property
    def tmp(self) -> Path:
        """Bound over /tmp inside the namespace; TMPDIR when there is no namespace."""
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        return self.root / "lab.json"

    @property
    def token_file(self) -> Path:
        return self.root / "gateway.token"

    @property
    def openclaw_log(self) -> Path:
        """OpenClaw's own log (`logging.file`), kept inside the lab instead of /tmp/openclaw."""
        return self.logs / "openclaw.log"

    @property
    def gateway_log(self) -> Path:
        return self.logs / "gateway.log"

    @property
    def bridge_log(self) -> Path:
        return self.logs / "netbridge.log"

    @property
    def holder_log(self) -> Path:
        return self.logs / "namespace.log"

    def gateway_lock_files(self) -> list[Path]:
        """`gateway.state.lock` (JSON with the gateway pid) for any uid OpenClaw ran as."""
        return sorted(self.state_dir.glob("tmp/openclaw-*/gateway.state.lock"))


@dataclass(frozen=True)
class LabLayout:
    root: Path

    @property
    def runtimes(self) -> Path:
        return self.root / "runtimes"

    @property
    def npm_cache(self) -> Path:
        return self.root / "cache" / "npm"

    @property
    def node_links(self) -> Path:
        return self.root / "node"

    @property
    def instances(self) -> Path:
        return self.root / "instances"

    def runtime_dir(self, version: str) -> Path:
        return self.runtimes / f"openclaw-{version}"

    def runtime_partial_dir(self, version: str, pid: int) -> Path:
        return self.runtimes / f".openclaw-{version}{PARTIAL_INFIX}{pid}"

    def runtime_lock(self, version: str) -> Path:
        return self.runtimes / f".openclaw-{version}.lock"

    def install_log(self, version: str) -> Path:
        return self.root / "logs" / f"install-{version}.log"

    def instance(self, name: str) -> InstanceLayout:
        return InstanceLayout(root=self.instances / check_instance_name(name), name=name)

    def instance_lock(self, name: str) -> Path:
        return self.instances / f".{check_instance_name(name)}.lock"

    def instance_names(self) -> list[str]:
        """Names of the instances that have a directory, sorted."""
        if not self.instances.is_dir():
            return []
        return sorted(p.name for p in self.instances.iterdir() if p.is_dir() and _NAME_RE.match(p.name))
