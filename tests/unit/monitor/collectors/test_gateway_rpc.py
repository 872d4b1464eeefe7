"""The RPC collector on recorded `gateway call status`, `health` and `cron list` outputs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest

from clawkeeper.errors import AgentProtocolError, OperationTimeout
from clawkeeper.monitor.collectors.gateway_rpc import GatewayRpcCollector
from tests.unit.monitor.collectors.helpers import VERSIONS, ctx, fixture_json, value


class FakeCli:
    """Answers `openclaw <args>` with recorded JSON; remembers what was asked."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, args: Sequence[str]) -> Any:
        key = " ".join(args[:3]) if args[0] == "gateway" else args[0]
        self.calls.append(key)
        answer = self.answers[key]
        if isinstance(answer, Exception):
            raise answer
        return answer


def up(version: str) -> dict[str, Any]:
    return {
        "gateway call status": fixture_json(version, "gateway-call-status.up.json"),
        "health": fixture_json(version, "health.up.json"),
        "cron": fixture_json(version, "cron-list.up.json"),
    }


def test_2026_9_6_active_work_tasks_cron_and_health() -> None:
    samples = GatewayRpcCollector(FakeCli(up("2026.9.6"))).collect(ctx())
    assert value(samples, "gateway_rpc_ok") == 1
    for kind in ("rootRequests", "cronRuns", "sessionMutations", "terminalPersistence", "lifecycleWrites"):
        assert value(samples, "gateway_active_work", kind=kind) == 0
    assert value(samples, "agent_tasks", status="failed") == 0
    assert value(samples, "agent_tasks", status="running") == 0
    assert value(samples, "gateway_sessions") == 0
    assert value(samples, "gateway_model_runtime_degraded") == 0
    assert value(samples, "gateway_delivery_ingress_pressure") == 0  # no deliveryQueues: empty
    assert value(samples, "agent_cron_jobs", status="idle") == 3
    assert value(samples, "agent_cron_jobs", status="error") == 0


def test_2026_8_2_counts_work_from_its_task_summary() -> None:
    samples = GatewayRpcCollector(FakeCli(up("2026.8.2"))).collect(ctx())
    assert value(samples, "gateway_rpc_ok") == 1
    assert value(samples, "gateway_active_work", kind="tasks.active") == 0
    assert value(samples, "gateway_model_runtime_degraded") is None  # 2026.8 does not say
    assert value(samples, "agent_cron_jobs", status="idle") == 3


@pytest.mark.parametrize("version", VERSIONS)
def test_a_down_gateway_costs_one_spawn_and_reports_rpc_not_ok(version: str) -> None:
    cli = FakeCli({"gateway call status": fixture_json(version, "gateway-call-status.down.json")})
    samples = GatewayRpcCollector(cli).collect(ctx())
    assert [(s.name, s.value) for s in samples] == [("gateway_rpc_ok", 0.0)]
    assert cli.calls == ["gateway call status"]


def test_a_timeout_is_rpc_not_ok() -> None:
    cli = FakeCli({"gateway call status": OperationTimeout("`openclaw gateway call status` did not finish")})
    assert value(GatewayRpcCollector(cli).collect(ctx()), "gateway_rpc_ok") == 0


def test_queued_and_failed_deliveries_and_a_degraded_runtime() -> None:
    answers = up("2026.9.6")
    health = copy.deepcopy(answers["health"])
    health["modelRuntime"]["degraded"] = True
    health["deliveryQueues"] = {  # the shape of 2026.9.6's health schema (sessions-*.mjs)
        "failed": [{"queueName": "outbound", "count": 2}],
        "ingressPressure": [
            {"channelId": "telegram", "accountId": "a", "laneCount": 1, "pendingCount": 7, "claimedCount": 1,
             "blockedCount": 0, "oldestReceivedAt": 1},
            {"channelId": "slack", "accountId": "b", "laneCount": 2, "pendingCount": 5, "claimedCount": 0,
             "blockedCount": 1, "oldestReceivedAt": 2},
        ],
    }  # fmt: skip
    answers["health"] = health
    status = copy.deepcopy(answers["gateway call status"])
    status["tasks"]["byStatus"]["failed"] = 3
    status["shutdownBudget"]["writeCustody"] = [{"phase": "backup", "count": 1}]
    answers["gateway call status"] = status
    samples = GatewayRpcCollector(FakeCli(answers)).collect(ctx())
    assert value(samples, "gateway_delivery_ingress_pressure") == 12
    assert value(samples, "gateway_model_runtime_degraded") == 1
    assert value(samples, "agent_tasks", status="failed") == 3
    assert value(samples, "gateway_active_work", kind="writeCustody:backup") == 1


def test_health_failing_while_status_answers_is_rpc_not_ok_but_keeps_the_work_counters() -> None:
    answers = up("2026.9.6")
    answers["health"] = fixture_json("2026.9.6", "health.down.json")
    samples = GatewayRpcCollector(FakeCli(answers)).collect(ctx())
    assert value(samples, "gateway_rpc_ok") == 0
    assert value(samples, "gateway_active_work", kind="cronRuns") == 0


def test_an_unknown_status_shape_fails_the_collector() -> None:
    answers = up("2026.9.6")
    answers["gateway call status"] = {"runtimeVersion": "2027.1.1"}
    with pytest.raises(AgentProtocolError, match="activeWork"):
        GatewayRpcCollector(FakeCli(answers)).collect(ctx())
