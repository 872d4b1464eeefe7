"""Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`.

A label a series does not have reads as the empty string (so `k=""` selects series without `k`
and `k!="x"` selects them too), and regular expressions must match the whole value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from clawkeeper.errors import UsageError
from clawkeeper.monitor.model import Labels, Matcher, MatchOp

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)(.*)$")


def parse_matcher(text: str) -> Matcher:
    """`k=v`, `k!=v`, `k=~regex`, `k!~regex` → Matcher. Quotes around the value are optional."""
    found = _MATCHER.match(text)
    if found is None:
        raise UsageError(
            f"{text!r} is not a label matcher",
            hint="write label=value, label!=value, label=~regex or label!~regex",
        )
    label, op, value = found.groups()
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    matcher = Matcher(label, MatchOp(op), value)
    check_matchers([matcher])
    return matcher


def check_matchers(matchers: Sequence[Matcher]) -> None:
    """Raise UsageError for a matcher whose regular expression does not compile."""
    for m in matchers:
        if m.op in (MatchOp.RE, MatchOp.NRE):
            try:
                _compiled(m.value)
            except re.error as exc:
                raise UsageError(
                    f"label matcher {m.label}{m.op.value}{m.value!r}: invalid regular expression ({exc})",
                    hint="use Python/RE2-style syntax; the expression must match the whole value",
                ) from exc


def matches(labels: Labels | Mapping[str, str], matchers: Sequence[Matcher]) -> bool:
    """True when `labels` satisfy every matcher."""
    label_map = labels if isinstance(labels, Mapping) else dict(labels)
    for m in matchers:
        value = label_map.get(m.label, "")
        if m.op is MatchOp.EQ:
            ok = value == m.value
        elif m.op is MatchOp.NE:
            ok = value != m.value
        elif m.op is MatchOp.RE:
            ok = _compiled(m.value).fullmatch(value) is not None
        else:
            ok = _compiled(m.value).fullmatch(value) is None
        if not ok:
            return False
    return True


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """`{k="v",k2=~"x.*"}` as Prometheus writes a selector; empty string for no matchers."""
    if not matchers:
        return ""
    inner = ",".join(f'{m.label}{m.op.value}"{m.value}"' for m in matchers)
    return "{" + inner + "}"


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
