"""Success and failure conditions: a small, safe expression language over a probe's `result`.

Conditions read like Argo Rollouts' (`result.status == 200 and result.latency_ms < 500`). They are
parsed with Python's own parser into an AST and evaluated by walking only the node types listed
here, so a suite file can never run code. Checking happens when the suite is loaded: a condition
that uses anything else fails validation with the suite file's line.

Semantics chosen for probes:
* `result.key` and `result["key"]` read a mapping; a missing key is `None` (not an error), so
  `result.json.status == "ok"` is simply false when the body has no `status`.
* `true`, `false` and `null` may be written as in JSON.
* Ordering comparisons with `None` are false rather than errors.
* Functions: `len`, `abs`, `min`, `max`, `float`, `int`, `str`, `lower`, `matches(pattern, text)`
  (a regular-expression search), `contains(container, item)`.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NAMES = frozenset({"result"})
# JSON spellings, because suites are written next to JSON bodies: `result.json.ready == true`.
CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}


class ConditionSyntaxError(ValueError):
    """The text is not a valid condition (raised when a suite is loaded)."""


class ConditionEvalError(ValueError):
    """The condition could not be evaluated against this result (a measurement error)."""


def _matches(pattern: Any, text: Any) -> bool:
    if text is None:
        return False
    return re.search(str(pattern), str(text)) is not None


def _contains(container: Any, item: Any) -> bool:
    if container is None:
        return False
    return item in container


def _lower(value: Any) -> str | None:
    return None if value is None else str(value).lower()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": lambda value: 0 if value is None else len(value),
    "abs": abs,
    "min": min,
    "max": max,
    "float": float,
    "int": int,
    "str": str,
    "lower": _lower,
    "matches": _matches,
    "contains": _contains,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}

_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.Compare,
    ast.BinOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Call,
    ast.List,
    ast.Tuple,
    *_COMPARE,
    *_BINARY,
)


@dataclass(frozen=True)
class Condition:
    """A parsed condition; `text` is what the user wrote."""

    text: str
    tree: ast.Expression

    def evaluate(self, result: Mapping[str, Any]) -> bool:
        try:
            return bool(_eval(self.tree.body, {"result": result}))
        except ConditionEvalError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, re.error, IndexError) as exc:
            raise ConditionEvalError(f"condition `{self.text}` could not be evaluated: {exc}") from exc

    def __str__(self) -> str:
        return self.text


def parse_condition(text: str) -> Condition:
    """Parse and check `text`. Raises ConditionSyntaxError saying what is not allowed."""
    source = text.strip()
    if not source:
        raise ConditionSyntaxError("the condition is empty")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ConditionSyntaxError(f"not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ConditionSyntaxError(f"`{type(node).__name__}` is not allowed in a condition")
        if (
            isinstance(node, ast.Name)
            and node.id not in NAMES | CONSTANTS.keys()
            and node.id not in FUNCTIONS
        ):
            raise ConditionSyntaxError(f"unknown name `{node.id}` (conditions can read `result`)")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ConditionSyntaxError(
                    f"only these functions can be called: {', '.join(sorted(FUNCTIONS))}"
                )
            if node.keywords:
                raise ConditionSyntaxError("functions in conditions take no keyword arguments")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionSyntaxError("names starting with '_' are not allowed")
        if isinstance(node, ast.Name) and node.id in FUNCTIONS and not _is_called(tree, node):
            raise ConditionSyntaxError(f"`{node.id}` is a function; call it like {node.id}(...)")
    return Condition(text=source, tree=tree)


def _is_called(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def _lookup(container: Any, key: Any) -> Any:
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key)
    if isinstance(container, list | tuple | str) and isinstance(key, int):
        return container[key] if -len(container) <= key < len(container) else None
    raise ConditionEvalError(f"cannot read {key!r} from a {type(container).__name__}")


def _eval(node: ast.AST, scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS[node.id] if node.id in CONSTANTS else scope[node.id]
    if isinstance(node, ast.Attribute):
        return _lookup(_eval(node.value, scope), node.attr)
    if isinstance(node, ast.Subscript):
        return _lookup(_eval(node.value, scope), _eval(node.slice, scope))
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, scope) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, scope)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_eval(node.left, scope), _eval(node.right, scope))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, scope)
            if isinstance(op, _ORDERING) and (left is None or right is None):
                return False
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)  # noqa: S101 - guaranteed by parse_condition
        return FUNCTIONS[node.func.id](*(_eval(a, scope) for a in node.args))
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, scope) for e in node.elts]
    raise ConditionEvalError(f"unsupported expression `{type(node).__name__}`")
