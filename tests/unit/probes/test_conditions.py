"""Conditions are what a user writes to judge a measurement: they must mean what they say and
never run code."""

from __future__ import annotations

import pytest

from clawkeeper.probes.conditions import ConditionEvalError, ConditionSyntaxError, parse_condition


@pytest.mark.parametrize(
    ("text", "result", "expected"),
    [
        ("result.status == 200", {"status": 200}, True),
        ("result.status == 200", {"status": 503}, False),
        (
            "result.status == 200 and result.json.ready == true",
            {"status": 200, "json": {"ready": True}},
            True,
        ),
        ("result.json.ready == true", {"json": {}}, False),  # a missing key is null, not an error
        ("result.latency_ms < 500", {"latency_ms": None}, False),  # ordering with null is false
        ("result.latency_ms < 2 * 250", {"latency_ms": 499.0}, True),
        ("matches('^CK-42-', result.stdout)", {"stdout": "CK-42-XYZ\n"}, True),
        ("contains(result.tools, 'exec')", {"tools": ["read", "exec"]}, True),
        ("'exec' in result.tools", {"tools": None}, False),
        ("len(result.findings) == 0", {"findings": []}, True),
        ("not result.ok", {"ok": False}, True),
        (
            "result['json']['failing'][0] == 'agent-database:main'",
            {"json": {"failing": ["agent-database:main"]}},
            True,
        ),
        ("result.json.failing[5] == null", {"json": {"failing": []}}, True),
        ("lower(result.status_text) == 'ok'", {"status_text": "OK"}, True),
    ],
)
def test_conditions_evaluate_as_written(text: str, result: dict[str, object], expected: bool) -> None:
    assert parse_condition(text).evaluate(result) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "only these functions"),
        ("result.__class__", "names starting with '_'"),
        ("(lambda: 1)()", "only these functions"),
        ("result if result else 1", "not allowed"),
        ("os.getcwd()", "only these functions"),
        ("status == 200", "unknown name `status`"),
        ("result.status = 200", "not a valid expression"),
        ("[x for x in result.items]", "not allowed"),
        ("len", "is a function"),
        ("", "empty"),
    ],
)
def test_conditions_that_could_run_code_or_make_no_sense_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=None) as caught:
        parse_condition(text)
    assert fragment in str(caught.value)


def test_a_condition_that_cannot_be_read_is_an_evaluation_error_not_false() -> None:
    condition = parse_condition("result.count > 'three'")
    with pytest.raises(ConditionEvalError, match="could not be evaluated"):
        condition.evaluate({"count": 3})
