"""Mount plans as data: what a sandbox sees at which path, separate from how it is set up.

A plan is an ordered list of steps. The lab's plan is simple (a private /tmp, tmpfs on /var/tmp
and /dev/shm). A canary needs more and gets it from the same four kinds of step: run a new
version on a COPY of a live agent's state *at the same absolute path* (stored paths and cron keys
stay valid) by making the live tree read-only, binding the copy over the live state directory,
and binding private directories over every other place OpenClaw writes (`~/.cache`, the log dir).

Plans render to `mount` argv lists (run inside the mount namespace, as root or as the root of a
user namespace) or to bubblewrap arguments. Order matters and is kept: for example a private
/tmp must be in place before anything under /tmp is bound back in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

TMP = Path("/tmp")  # noqa: S108 - the path we replace with a private directory


class MountKind(StrEnum):
    BIND = "bind"  # `source` appears at `target`, writable
    RBIND = "rbind"  # like BIND, with the mounts below `source` carried along
    READ_ONLY = "read-only"  # `target` stays where it is but becomes read-only
    TMPFS = "tmpfs"  # an empty, private, memory-backed directory at `target`


@dataclass(frozen=True)
class MountStep:
    kind: MountKind
    target: Path
    source: Path | None = None
    why: str = ""
    create_target: bool = False  # make the target directory first (it may not exist yet)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "target": str(self.target),
            "source": str(self.source) if self.source is not None else None,
            "why": self.why,
        }


def private_dir(source: Path, target: Path, why: str = "private directory") -> MountStep:
    """The sandbox writes to `source` when it writes to `target`; the host's `target` is untouched."""
    return MountStep(MountKind.BIND, target, source, why)


def bind_at(source: Path, target: Path, why: str = "copy at the live path") -> MountStep:
    """Show `source` (e.g. a copy of the live state) at `target` (the live state's own path)."""
    return MountStep(MountKind.BIND, target, source, why)


def read_only(path: Path, why: str = "live tree read-only") -> MountStep:
    return MountStep(MountKind.READ_ONLY, path, None, why)


def tmpfs(target: Path, why: str = "private scratch space") -> MountStep:
    return MountStep(MountKind.TMPFS, target, None, why)


def is_within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def private_tmp(private: Path, keep_visible: Iterable[Path] = ()) -> list[MountStep]:
    """Replace /tmp with `private`, keeping the given paths under /tmp visible at their own path.

    Each kept path is first bound into `private` at its relative position, then `private` is bound
    recursively over /tmp, carrying those binds along (the lab may itself live under /tmp).
    """
    steps: list[MountStep] = []
    kept: list[Path] = []
    for path in sorted(
        {p for p in keep_visible if is_within(p, TMP) and p != TMP}, key=lambda p: len(p.parts)
    ):
        if any(is_within(path, other) for other in kept):
            continue  # already visible through a parent we keep
        kept.append(path)
        inside = private / path.relative_to(TMP)
        steps.append(MountStep(MountKind.BIND, inside, path, f"keep {path} visible", create_target=True))
    steps.append(MountStep(MountKind.RBIND, TMP, private, "private /tmp"))
    return steps


@dataclass(frozen=True)
class MountPlan:
    steps: tuple[MountStep, ...] = ()

    def __add__(self, other: MountPlan) -> MountPlan:
        return MountPlan(self.steps + other.steps)

    def mount_commands(self) -> list[list[str]]:
        """argv lists that apply the plan, in order, from inside the mount namespace."""
        commands: list[list[str]] = []
        for step in self.steps:
            target = str(step.target)
            if step.create_target:
                commands.append(["mkdir", "-p", target])
            if step.kind in (MountKind.BIND, MountKind.RBIND):
                flag = "--bind" if step.kind is MountKind.BIND else "--rbind"
                commands.append(["mount", flag, str(step.source), target])
            elif step.kind is MountKind.READ_ONLY:
                commands.append(["mount", "--bind", target, target])
                commands.append(["mount", "-o", "remount,bind,ro", target])
            elif step.kind is MountKind.TMPFS:
                commands.append(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", target])
        return commands

    def bwrap_args(self) -> list[str]:
        """The same plan as bubblewrap options (bwrap binds are always recursive)."""
        args: list[str] = []
        for step in self.steps:
            target = str(step.target)
            if step.kind in (MountKind.BIND, MountKind.RBIND):
                args += ["--bind", str(step.source), target]
            elif step.kind is MountKind.READ_ONLY:
                args += ["--ro-bind", target, target]
            elif step.kind is MountKind.TMPFS:
                args += ["--tmpfs", target]
        return args

    def to_json(self) -> list[dict[str, Any]]:
        return [step.to_json() for step in self.steps]


def lab_plan(instance_tmp: Path, keep_visible: Iterable[Path], *, scratch: Iterable[Path] = ()) -> MountPlan:
    """The lab's plan: the instance's tmp/ as /tmp (lab paths under /tmp kept), tmpfs on scratch dirs."""
    steps = private_tmp(instance_tmp, keep_visible)
    steps += [tmpfs(path, f"private {path}") for path in scratch]
    return MountPlan(tuple(steps))
