"""Label matchers from the command line: `--label k=v`, `k!=v`, `k=~re`, `k!~re`."""

from __future__ import annotations

import pytest

from clawkeeper.errors import UsageError
from clawkeeper.monitor.model import Matcher, MatchOp
from clawkeeper.monitor.tsdb import format_matchers, parse_matcher


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mountpoint=/", Matcher("mountpoint", MatchOp.EQ, "/")),
        ("level!=debug", Matcher("level", MatchOp.NE, "debug")),
        ("job=~backup.*", Matcher("job", MatchOp.RE, "backup.*")),
        ("job!~(drill|verify)", Matcher("job", MatchOp.NRE, "(drill|verify)")),
        ('probe="healthz"', Matcher("probe", MatchOp.EQ, "healthz")),
        ("kind = in", Matcher("kind", MatchOp.EQ, "in")),
        ("direction=", Matcher("direction", MatchOp.EQ, "")),
        ("expr=a=b", Matcher("expr", MatchOp.EQ, "a=b")),  # only the first operator splits
    ],
)
def test_parse_matcher(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected


@pytest.mark.parametrize("text", ["", "=value", "9lives=x", "no-operator", "job=~("])
def test_bad_matchers_are_usage_errors_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_matcher(text)
    assert "label" in raised.value.one_line()


def test_format_matchers_writes_a_prometheus_selector() -> None:
    matchers = [Matcher("job", MatchOp.RE, "backup.*"), Matcher("outcome", MatchOp.NE, "ok")]
    assert format_matchers(matchers) == '{job=~"backup.*",outcome!="ok"}'
    assert format_matchers([]) == ""
