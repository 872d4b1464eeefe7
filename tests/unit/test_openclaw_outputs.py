"""The JSON parsers over every recorded real output, and what happens when a shape changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from clawkeeper.agent.openclaw import outputs
from clawkeeper.errors import AgentProtocolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclaw"
VERSIONS = ("2026.8.2", "2026.9.6")


def load(version: str, name: str) -> Any:
    return json.loads((FIXTURES / version / name).read_text())


def manifest_entries(version: str) -> list[dict[str, Any]]:
    return list(load(version, "manifest.json")["commands"])


@pytest.mark.parametrize("version", VERSIONS)
def test_every_recorded_json_output_parses(version: str) -> None:
    """Each recorded command output goes through its parser without a protocol error."""
    parsers = {
        "health": outputs.parse_health,
        "gateway-status": outputs.parse_gateway_status,
        "tasks-running": outputs.parse_tasks,
        "doctor-lint": outputs.parse_doctor_lint,
        "config-validate": outputs.parse_config_validate,
        "update-status": outputs.parse_update_status,
    }
    seen = set()
    for entry in manifest_entries(version):
        data = load(version, entry["stdout"]) if entry["stdout"].endswith(".json") else None
        name = entry["name"]
        if name in parsers:
            parsers[name](data, source=name)
            seen.add(name)
        elif name in ("gateway-call-status", "cron-list") and outputs.failure_message(data) is None:
            (outputs.parse_status_rpc if name == "gateway-call-status" else outputs.parse_cron_list)(
                data, source=name
            )
            seen.add(name)
    assert seen == {*parsers, "gateway-call-status", "cron-list"}


@pytest.mark.parametrize("version", VERSIONS)
def test_gateway_down_envelopes(version: str) -> None:
    for name in ("health", "gateway-call-status", "cron-list"):
        message = outputs.failure_message(load(version, f"{name}.down.json"))
        assert message is not None and message.startswith("Gateway not reachable"), name
    assert outputs.failure_message(load(version, "tasks-running.down.json")) is None
    status = outputs.parse_gateway_status(load(version, "gateway-status.down.json"), source="s")
    assert (status.rpc_ok, status.running_version) == (False, None)
    assert status.rpc_error is not None and "ECONNREFUSED" in status.rpc_error


@pytest.mark.parametrize("version", VERSIONS)
def test_gateway_status_up(version: str) -> None:
    status = outputs.parse_gateway_status(load(version, "gateway-status.up.json"), source="s")
    assert (status.rpc_ok, status.running_version, status.cli_version) == (True, version, version)
    assert status.build_id is not None and status.build_id.startswith(version)


@pytest.mark.parametrize("version", VERSIONS)
def test_probe_documents(version: str) -> None:
    assert outputs.parse_healthz(load(version, "http-healthz.up.json"), source="h") is True
    readiness = outputs.parse_readyz(load(version, "http-readyz.up.json"), source="r")
    assert (readiness.ready, readiness.failing) == (True, ())
    startup = outputs.parse_startupz(load(version, "http-startupz.up.json"), source="s")
    assert (startup.started, startup.version) == (True, version)


def test_pending_startup_carries_the_version() -> None:
    startup = outputs.parse_startupz(load("2026.9.6", "http-startupz.pending.json"), source="s")
    assert (startup.started, startup.status, startup.version) == (False, "starting", "2026.9.6")


def test_readyz_failing_entries_may_be_objects() -> None:
    readiness = outputs.parse_readyz(
        {"ready": False, "failing": ["plugin-reload", {"id": "agent-database:main"}]}, source="r"
    )
    assert readiness.failing == ("plugin-reload", "agent-database:main")


def test_status_rpc_counters_by_version() -> None:
    new = outputs.parse_status_rpc(load("2026.9.6", "gateway-call-status.up.json"), source="s")
    assert new.source == "shutdownBudget.activeWork" and set(new.active) >= {"rootRequests", "cronRuns"}
    old = outputs.parse_status_rpc(load("2026.8.2", "gateway-call-status.up.json"), source="s")
    assert (old.source, old.active) == ("tasks", {"tasks.active": 0})


@pytest.mark.parametrize("version", VERSIONS)
def test_doctor_findings_and_severities(version: str) -> None:
    lint = outputs.parse_doctor_lint(load(version, "doctor-lint.up.json"), source="d")
    assert lint.ok is False and lint.error is None
    assert {f.severity for f in lint.findings} == {"warning"}
    assert all(f.check_id.startswith("core/doctor/") for f in lint.findings)
    broken = outputs.parse_doctor_lint(load(version, "doctor-lint.broken.json"), source="d")
    assert [(f.check_id, f.severity) for f in broken.findings] == [
        ("core/doctor/final-config-validation", "error")
    ]


@pytest.mark.parametrize(("raw", "severity"), [("warn", "warning"), ("ERROR", "error"), ("info", "info")])
def test_severity_normalisation(raw: str, severity: str) -> None:
    assert outputs.normalize_severity(raw) == severity


@pytest.mark.parametrize("version", VERSIONS)
def test_config_validation(version: str) -> None:
    valid = outputs.parse_config_validate(load(version, "config-validate.up.json"), source="c")
    assert (valid.valid, valid.issues) == (True, ())
    invalid = outputs.parse_config_validate(load(version, "config-validate.invalid.json"), source="c")
    assert invalid.valid is False
    assert [(i.path, i.message) for i in invalid.issues] == [("update", 'Unrecognized key: "notARealKey"')]


@pytest.mark.parametrize("version", VERSIONS)
def test_update_status_offline(version: str) -> None:
    status = outputs.parse_update_status(load(version, "update-status.down.json"), source="u")
    assert (status.install_kind, status.package_manager, status.channel) == ("package", "npm", "stable")
    assert status.latest_version is None
    assert status.registry_error == "TypeError: fetch failed"


def test_cron_list_running_detection() -> None:
    data = load("2026.9.6", "cron-list.up.json")
    assert outputs.parse_cron_list(data, source="c").running == ()
    changed = copy.deepcopy(data)
    changed["jobs"][1]["state"]["runningAtMs"] = 1795320620547  # status not yet recomputed
    changed["hasMore"] = True
    parsed = outputs.parse_cron_list(changed, source="c")
    assert parsed.running == ("Memory Dreaming Promotion",)
    assert parsed.complete is False


# --- changed shapes ---------------------------------------------------------------------------------


def _drop(data: Any, dotted: str) -> Any:
    changed = copy.deepcopy(data)
    node = changed
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        del node[int(last)]
    else:
        del node[last]
    return changed


@pytest.mark.parametrize(
    ("fixture", "parser", "dropped", "named"),
    [
        ("gateway-status.up.json", outputs.parse_gateway_status, "rpc", "'rpc'"),
        ("gateway-status.up.json", outputs.parse_gateway_status, "rpc.ok", "'rpc.ok'"),
        ("health.up.json", outputs.parse_health, "ok", "'ok'"),
        ("http-readyz.up.json", outputs.parse_readyz, "ready", "'ready'"),
        ("tasks-running.up.json", outputs.parse_tasks, "tasks", "'tasks'"),
        ("cron-list.up.json", outputs.parse_cron_list, "jobs", "'jobs'"),
        ("doctor-lint.up.json", outputs.parse_doctor_lint, "findings.0.severity", "'findings[0].severity'"),
        ("doctor-lint.up.json", outputs.parse_doctor_lint, "findings.1.message", "'findings[1].message'"),
        ("config-validate.up.json", outputs.parse_config_validate, "valid", "'valid'"),
        ("update-status.up.json", outputs.parse_update_status, "update", "'update'"),
        (
            "gateway-call-status.up.json",
            outputs.parse_status_rpc,
            "shutdownBudget.activeWork",
            "'shutdownBudget.activeWork'",
        ),
    ],
)
def test_a_missing_field_is_a_protocol_error_naming_command_and_field(
    fixture: str, parser: Any, dropped: str, named: str
) -> None:
    data = _drop(load("2026.9.6", fixture), dropped)
    with pytest.raises(AgentProtocolError) as caught:
        parser(data, source="openclaw some command --json")
    assert "`openclaw some command --json`" in caught.value.message
    assert named in caught.value.message
    assert caught.value.hint is not None


@pytest.mark.parametrize(
    ("data", "parser", "message"),
    [
        ({"valid": "yes"}, outputs.parse_config_validate, "expected true/false, got a string"),
        ({"count": True, "tasks": []}, outputs.parse_tasks, "expected an integer, got true/false"),
        ([], outputs.parse_health, "expected an object, got a list"),
        ({"ready": None}, outputs.parse_readyz, "expected true/false, got null"),
        (
            {"shutdownBudget": {"activeWork": {"rootRequests": "0"}}},
            outputs.parse_status_rpc,
            "'shutdownBudget.activeWork.rootRequests' (expected an integer, got a string)",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_a_protocol_error(data: Any, parser: Any, message: str) -> None:
    with pytest.raises(AgentProtocolError) as caught:
        parser(data, source="cmd")
    assert message in caught.value.message


def test_new_fields_are_ignored() -> None:
    data = load("2026.9.6", "doctor-lint.up.json")
    data["newTopLevel"] = {"x": 1}
    data["findings"][0]["confidence"] = 0.9
    lint = outputs.parse_doctor_lint(data, source="d")
    assert len(lint.findings) == len(data["findings"])
