"""Tolerant, typed access to the JSON an OpenClaw command printed.

OpenClaw's `--json` output grows new fields every release and occasionally drops or renames one.
We read only the fields we need, ignore everything else, and when a field we need is missing or
has the wrong type we raise AgentProtocolError naming the command and the dotted field path — a
message a user can paste into a bug report — instead of a KeyError traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar, overload

from clawkeeper.errors import AgentProtocolError

T = TypeVar("T")

_TYPE_NAMES: dict[type, str] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true/false",
}

_MISSING = object()


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


def _matches(value: Any, kind: type) -> bool:
    # JSON true/false are Python ints; an integer field must not accept them, and a number field
    # accepts integers.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


class Shape:
    """A JSON value printed by `source` (e.g. "openclaw doctor --lint --json"), at `path`."""

    def __init__(self, data: Any, *, source: str, path: str = "") -> None:
        self.data = data
        self.source = source
        self.path = path

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _fail(self, field: str, problem: str) -> AgentProtocolError:
        return AgentProtocolError(
            f"`{self.source}` printed JSON without the expected field '{field}' ({problem})",
            hint="this OpenClaw version's output changed; run the command by hand and report its output",
        )

    def _lookup(self, dotted: str) -> tuple[Any, str]:
        """Follow a dotted path; returns (_MISSING, path) as soon as a step is absent."""
        value: Any = self.data
        walked = self.path
        for part in dotted.split("."):
            walked = f"{walked}.{part}" if walked else part
            if not isinstance(value, dict) or part not in value:
                return _MISSING, walked
            value = value[part]
        return value, walked

    def missing(self, dotted: str, expected: str) -> AgentProtocolError:
        """The error for a required field that is absent (for callers that check alternatives)."""
        return self._fail(self._where(dotted), f"missing; expected {expected}")

    def require_object(self) -> Shape:
        if not isinstance(self.data, dict):
            raise self._fail(self.path or "<top level>", f"expected an object, got {_type_name(self.data)}")
        return self

    @overload
    def req(self, dotted: str, kind: type[T]) -> T: ...
    @overload
    def req(self, dotted: str, kind: tuple[type, ...]) -> Any: ...
    def req(self, dotted: str, kind: Any) -> Any:
        """The value at `dotted`; it must exist and be of `kind` (a type or a tuple of types)."""
        value, where = self._lookup(dotted)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
        if value is _MISSING:
            raise self._fail(where, f"missing; expected {expected}")
        if not any(_matches(value, k) for k in kinds):
            raise self._fail(where, f"expected {expected}, got {_type_name(value)}")
        return value

    @overload
    def opt(self, dotted: str, kind: type[T]) -> T | None: ...
    @overload
    def opt(self, dotted: str, kind: type[T], default: T) -> T: ...
    def opt(self, dotted: str, kind: type[T], default: T | None = None) -> T | None:
        """The value at `dotted` when present and of `kind`; `default` when absent or null.

        A present value of the wrong type is still an error: it means the shape changed.
        """
        value, where = self._lookup(dotted)
        if value is _MISSING or value is None:
            return default
        if not _matches(value, kind):
            expected = _TYPE_NAMES.get(kind, kind.__name__)
            raise self._fail(where, f"expected {expected}, got {_type_name(value)}")
        return value  # type: ignore[no-any-return]

    def obj(self, dotted: str) -> Shape:
        value = self.req(dotted, dict)
        return Shape(value, source=self.source, path=self._where(dotted))

    def opt_obj(self, dotted: str) -> Shape | None:
        value = self.opt(dotted, dict)
        return None if value is None else Shape(value, source=self.source, path=self._where(dotted))

    def items(self, dotted: str, *, required: bool = True) -> Iterator[Shape]:
        """Each element of the list at `dotted`, as a Shape (absent and not required: nothing)."""
        values = self.req(dotted, list) if required else (self.opt(dotted, list) or [])
        base = self._where(dotted)
        for index, value in enumerate(values):
            yield Shape(value, source=self.source, path=f"{base}[{index}]")

    def has(self, dotted: str) -> bool:
        value, _ = self._lookup(dotted)
        return value is not _MISSING
