"""Mount plans: the lab's private /tmp, and the canary building blocks, rendered in order."""

from __future__ import annotations

from pathlib import Path

from clawkeeper.agent.sandbox.mounts import (
    MountPlan,
    bind_at,
    lab_plan,
    private_dir,
    private_tmp,
    read_only,
    tmpfs,
)


def test_lab_outside_tmp_gets_a_plain_private_tmp_and_scratch_tmpfs() -> None:
    plan = lab_plan(Path("/lab/inst/tmp"), [Path("/lab")], scratch=[Path("/var/tmp"), Path("/dev/shm")])
    assert plan.mount_commands() == [
        ["mount", "--rbind", "/lab/inst/tmp", "/tmp"],
        ["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/var/tmp"],
        ["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm"],
    ]


def test_a_lab_under_tmp_is_bound_back_in_before_tmp_is_replaced() -> None:
    plan = lab_plan(Path("/tmp/lab/i/tmp"), [Path("/tmp/lab"), Path("/tmp/lab/node"), Path("/opt/node")])
    assert plan.mount_commands() == [
        ["mkdir", "-p", "/tmp/lab/i/tmp/lab"],
        ["mount", "--bind", "/tmp/lab", "/tmp/lab/i/tmp/lab"],  # /tmp/lab/node is covered by /tmp/lab
        ["mount", "--rbind", "/tmp/lab/i/tmp", "/tmp"],
    ]


def test_private_tmp_never_binds_tmp_itself() -> None:
    steps = private_tmp(Path("/p"), [Path("/tmp")])
    assert [s.kind.value for s in steps] == ["rbind"]


def test_canary_plan_live_tree_read_only_copy_at_live_path_private_cache() -> None:
    live = Path("/home/u")
    plan = MountPlan(
        (
            *private_tmp(Path("/w/tmp")),
            tmpfs(Path("/var/tmp")),
            read_only(live),
            bind_at(Path("/w/copy/.openclaw"), live / ".openclaw"),
            private_dir(Path("/w/cache"), live / ".cache"),
        )
    )
    commands = plan.mount_commands()
    assert commands[2:] == [
        ["mount", "--bind", "/home/u", "/home/u"],
        ["mount", "-o", "remount,bind,ro", "/home/u"],
        ["mount", "--bind", "/w/copy/.openclaw", "/home/u/.openclaw"],
        ["mount", "--bind", "/w/cache", "/home/u/.cache"],
    ]
    # read-only first, then the copy on top: the order is what makes the copy writable
    assert commands.index(["mount", "-o", "remount,bind,ro", "/home/u"]) < commands.index(
        ["mount", "--bind", "/w/copy/.openclaw", "/home/u/.openclaw"]
    )
    assert plan.bwrap_args() == [
        "--bind", "/w/tmp", "/tmp",
        "--tmpfs", "/var/tmp",
        "--ro-bind", "/home/u", "/home/u",
        "--bind", "/w/copy/.openclaw", "/home/u/.openclaw",
        "--bind", "/w/cache", "/home/u/.cache",
    ]  # fmt: skip
    described = plan.to_json()
    assert described[3] == {
        "kind": "bind",
        "target": "/home/u/.openclaw",
        "source": "/w/copy/.openclaw",
        "why": "copy at the live path",
    }
