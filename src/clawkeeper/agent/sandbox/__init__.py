"""The lab: real OpenClaw instances of any version, isolated on loopback, for tests, canaries and drills.

`Sandbox` is the entry point (`up`, `status`, `down`, `destroy`, `target`); `running_lab_targets`
finds the instances that run now, so other commands can fall back to a lab when no OpenClaw is
installed. See docs/lab.md.
"""

from clawkeeper.agent.sandbox.mounts import MountPlan, MountStep, bind_at, private_dir, read_only, tmpfs
from clawkeeper.agent.sandbox.progress import Progress, ProgressEvent, StepRecorder
from clawkeeper.agent.sandbox.sandbox import (
    DestroyReport,
    DownReport,
    InstanceStatus,
    Sandbox,
    UpReport,
    list_instances,
    running_instance_names,
    running_lab_targets,
)

__all__ = [
    "DestroyReport",
    "DownReport",
    "InstanceStatus",
    "MountPlan",
    "MountStep",
    "Progress",
    "ProgressEvent",
    "Sandbox",
    "StepRecorder",
    "UpReport",
    "bind_at",
    "list_instances",
    "private_dir",
    "read_only",
    "running_instance_names",
    "running_lab_targets",
    "tmpfs",
]
