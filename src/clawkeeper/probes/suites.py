"""Probe suites declared in TOML: the built-in `smoke`, `regression` and `full`, and the user's own.

A suite file:

    [suite]
    name = "my-plugins"
    description = "regression plus the plugins I depend on"
    extends = ["regression"]          # include another suite's probes first
    exclude = ["channels"]            # leave some of them out

    [[probe]]
    name = "matrix-plugin"
    kind = "openclaw.plugins"
    require = ["matrix"]              # the kind's own parameters sit next to the analysis ones
    count = 1                         # analysis: count, interval, initial_delay, timeout,
    success = "result.ok"             # success, failure, failure_limit, inconclusive_limit,
                                      # consecutive_error_limit, report_only, [probe.compare]

Every mistake is reported as `file:line: probe 'name': reason`, before anything runs. Durations
are seconds or strings such as "500ms", "2s", "1m".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clawkeeper.errors import ConfigError, NotFound
from clawkeeper.probes.conditions import Condition, ConditionSyntaxError, parse_condition
from clawkeeper.probes.kinds import KINDS, get_kind
from clawkeeper.probes.spec import Comparison, Direction, Limits, ProbeSpec, SourceRef

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
BUILTIN_NAMES = ("smoke", "regression", "full")
ANALYSIS_KEYS = frozenset(
    {
        "name",
        "kind",
        "description",
        "count",
        "interval",
        "initial_delay",
        "timeout",
        "success",
        "failure",
        "failure_limit",
        "inconclusive_limit",
        "consecutive_error_limit",
        "report_only",
        "compare",
    }
)
SUITE_KEYS = frozenset({"name", "description", "extends", "exclude"})
COMPARE_KEYS = frozenset({"metric", "direction", "confidence", "tolerance", "min_samples"})
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class SuiteError(ConfigError):
    """A suite file is invalid: the message starts with `file:line`."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    probes: tuple[ProbeSpec, ...]
    source: Path | None = None  # None for suites assembled in code
    builtin: bool = False
    extends: tuple[str, ...] = field(default_factory=tuple)

    def probe_names(self) -> list[str]:
        return [p.name for p in self.probes]

    def needs_model(self, only: Sequence[str] = ()) -> bool:
        """Does any of its probes (or of those named in `only`) drive the probe agent?"""
        from clawkeeper.probes.kinds.base import Requirement
        from clawkeeper.probes.runner import build_probe

        selected = [p for p in self.probes if not only or p.name in only]
        return any(Requirement.MODEL in build_probe(p).requires for p in selected)


# Line numbers ---------------------------------------------------------------------------------
class _Lines:
    """Finds the line of a table or key in the raw text (tomllib reports none after parsing)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.probe_headers = [
            i + 1 for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*probe\s*\]\]", line)
        ]

    def _block(self, start: int) -> range:
        end = len(self.lines)
        for i in range(start, len(self.lines)):
            if re.match(r"^\s*\[\[", self.lines[i]):
                end = i
                break
        return range(start, end)

    def probe(self, index: int) -> int | None:
        if index < len(self.probe_headers):
            return self.probe_headers[index]
        return self.key_anywhere("probe")

    def probe_key(self, index: int, key: str) -> int | None:
        header = self.probe(index)
        if header is None or index >= len(self.probe_headers):
            return header
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in self._block(header):
            if pattern.match(self.lines[i]):
                return i + 1
        return header

    def suite_key(self, key: str) -> int | None:
        in_suite = False
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, line in enumerate(self.lines):
            if re.match(r"^\s*\[", line):
                in_suite = bool(re.match(r"^\s*\[\s*suite\s*\]", line))
                if in_suite and key == "":
                    return i + 1
                continue
            if in_suite and pattern.match(line):
                return i + 1
        return None

    def key_anywhere(self, key: str) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        return next((i + 1 for i, line in enumerate(self.lines) if pattern.match(line)), None)


def _where(path: Path | None, line: int | None) -> str:
    shown = str(path) if path is not None else "<suite>"
    return f"{shown}:{line}" if line is not None else shown


# Values ---------------------------------------------------------------------------------------
def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration such as '2s'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration (use seconds or '500ms', '2s', '1m')")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def _int(value: Any, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"`{key}` must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"`{key}` must be between {low} and {high}")
    return value


class _ProbeBuilder:
    def __init__(self, path: Path | None, lines: _Lines, index: int, raw: Any) -> None:
        self.path = path
        self.lines = lines
        self.index = index
        self.raw = raw
        self.name = str(raw.get("name")) if isinstance(raw, dict) and raw.get("name") else f"#{index + 1}"

    def error(self, reason: str, key: str | None = None) -> SuiteError:
        line = self.lines.probe_key(self.index, key) if key else self.lines.probe(self.index)
        return SuiteError(
            f"{_where(self.path, line)}: probe '{self.name}': {reason}",
            hint="fix the probe; docs/probes.md lists the kinds, their parameters and the condition syntax",
        )

    def build(self) -> ProbeSpec:
        raw = self.raw
        if not isinstance(raw, dict):
            raise self.error("each [[probe]] must be a table")
        name = raw.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise self.error("`name` is required: lowercase letters, digits, '-', '_' or '.'", "name")
        kind_name = raw.get("kind")
        if not isinstance(kind_name, str):
            raise self.error("`kind` is required", "kind")
        kind = get_kind(kind_name)
        if kind is None:
            raise self.error(f"unknown kind '{kind_name}' (known: {', '.join(sorted(KINDS))})", "kind")
        params = {k: v for k, v in raw.items() if k not in ANALYSIS_KEYS}
        try:
            kind.params.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = str(first["loc"][0]) if first["loc"] else None
            if first["type"] == "extra_forbidden":
                known = ", ".join(sorted(kind.params.model_fields)) or "none"
                raise self.error(
                    f"unknown key '{key}' for kind {kind_name} (its parameters: {known})", key
                ) from None
            where = f"`{key}` " if key else ""
            raise self.error(f"{where}{first['msg']}".replace("Value error, ", ""), key) from None
        limits = Limits(
            count=self._number("count", 1, lambda v: _int(v, "count", 1, 10_000)),
            interval_s=self._number("interval", 0, parse_duration),
            initial_delay_s=self._number("initial_delay", 0, parse_duration),
            failure_limit=self._number("failure_limit", 0, lambda v: _int(v, "failure_limit", 0, 10_000)),
            inconclusive_limit=self._number(
                "inconclusive_limit", 0, lambda v: _int(v, "inconclusive_limit", 0, 10_000)
            ),
            consecutive_error_limit=self._number(
                "consecutive_error_limit", 4, lambda v: _int(v, "consecutive_error_limit", 0, 10_000)
            ),
        )
        timeout = self._number("timeout", 30, parse_duration)
        if not 0 < timeout <= 3600:
            raise self.error("`timeout` must be more than 0 and at most 3600 seconds", "timeout")
        report_only = raw.get("report_only", False)
        if not isinstance(report_only, bool):
            raise self.error("`report_only` must be true or false", "report_only")
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.error("`description` must be a string", "description")
        return ProbeSpec(
            name=name,
            kind=kind_name,
            params=params,
            description=description,
            success=self._condition("success"),
            failure=self._condition("failure"),
            limits=limits,
            timeout_s=timeout,
            compare=self._compare(),
            report_only=report_only,
            source=SourceRef(self.path, self.lines.probe(self.index)),
        )

    def _number(self, key: str, default: Any, convert: Callable[[Any], Any]) -> Any:
        try:
            return convert(self.raw.get(key, default))
        except ValueError as exc:
            text = str(exc)
            raise self.error(text if f"`{key}`" in text else f"`{key}`: {text}", key) from None

    def _condition(self, key: str) -> Condition | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f'`{key}` must be a string such as "result.ok"', key)
        try:
            return parse_condition(value)
        except ConditionSyntaxError as exc:
            raise self.error(f"bad {key} condition `{value}`: {exc}", key) from None

    def _compare(self) -> Comparison | None:
        value = self.raw.get("compare")
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error("`compare` must be a table ([probe.compare])", "compare")
        unknown = sorted(set(value) - COMPARE_KEYS)
        if unknown:
            raise self.error(
                f"unknown key '{unknown[0]}' in compare (known: {', '.join(sorted(COMPARE_KEYS))})",
                unknown[0],
            )
        try:
            direction = Direction(value.get("direction", "increase"))
        except ValueError:
            raise self.error("compare.direction must be increase, decrease or either", "direction") from None
        metric = value.get("metric", "latency_ms")
        confidence = value.get("confidence", 0.95)
        tolerance = value.get("tolerance", 0.25)
        if not isinstance(metric, str) or not metric:
            raise self.error("compare.metric must name a numeric result field", "metric")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, int | float)
            or not 0.5 <= confidence < 1
        ):
            raise self.error("compare.confidence must be at least 0.5 and below 1", "confidence")
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise self.error("compare.tolerance must be a fraction such as 0.25", "tolerance")
        try:
            min_samples = _int(value.get("min_samples", 5), "min_samples", 2, 100_000)
        except ValueError as exc:
            raise self.error(f"compare.{exc}".replace("`", ""), "min_samples") from None
        return Comparison(
            metric=metric,
            direction=direction,
            confidence=float(confidence),
            tolerance=float(tolerance),
            min_samples=min_samples,
        )


# Files ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SuiteFile:
    """A parsed, validated suite file before `extends` is resolved."""

    name: str
    description: str
    probes: tuple[ProbeSpec, ...]
    extends: tuple[str, ...]
    exclude: tuple[str, ...]
    path: Path | None
    builtin: bool


def parse_suite_text(text: str, *, path: Path | None, builtin: bool = False) -> SuiteFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise SuiteError(
            f"{_where(path, int(line.group(1)) if line else None)}: not valid TOML: {exc}",
            hint="fix the syntax at the line shown",
        ) from None
    lines = _Lines(text)

    def fail(reason: str, key: str = "") -> SuiteError:
        return SuiteError(
            f"{_where(path, lines.suite_key(key) if key else lines.suite_key(''))}: {reason}",
            hint="see docs/probes.md for the suite format",
        )

    unknown_top = sorted(set(data) - {"suite", "probe"})
    if unknown_top:
        found = lines.key_anywhere(unknown_top[0]) or next(
            (
                i + 1
                for i, t in enumerate(lines.lines)
                if re.match(rf"^\s*\[+\s*{re.escape(unknown_top[0])}\b", t)
            ),
            None,
        )
        raise SuiteError(
            f"{_where(path, found)}: unknown table or key '{unknown_top[0]}' (use [suite] and [[probe]])",
            hint="see docs/probes.md for the suite format",
        )
    header = data.get("suite", {})
    if not isinstance(header, dict):
        raise fail("[suite] must be a table")
    unknown = sorted(set(header) - SUITE_KEYS)
    if unknown:
        raise fail(
            f"unknown key '{unknown[0]}' in [suite] (known: {', '.join(sorted(SUITE_KEYS))})", unknown[0]
        )
    default_name = path.stem if path is not None else ""
    name = header.get("name", default_name)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise fail("the suite needs a `name`: lowercase letters, digits, '-', '_' or '.'", "name")
    description = header.get("description", "")
    extends = header.get("extends", [])
    exclude = header.get("exclude", [])
    for key, value in (("extends", extends), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f"`{key}` must be a list of names", key)
    if not isinstance(description, str):
        raise fail("`description` must be a string", "description")
    raw_probes = data.get("probe", [])
    if not isinstance(raw_probes, list):
        raise fail("probes are declared as [[probe]] tables")
    probes: list[ProbeSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_probes):
        builder = _ProbeBuilder(path, lines, index, raw)
        spec = builder.build()
        if spec.name in seen:
            raise builder.error("another probe in this file has the same name", "name")
        seen.add(spec.name)
        probes.append(spec)
    if not probes and not extends:
        raise fail("the suite has no probes and extends no other suite")
    return SuiteFile(name, description, tuple(probes), tuple(extends), tuple(exclude), path, builtin)


def _builtin_dir() -> Any:
    return resources.files("clawkeeper.probes") / "suites"


def builtin_suite_files() -> dict[str, SuiteFile]:
    out: dict[str, SuiteFile] = {}
    for name in BUILTIN_NAMES:
        resource = _builtin_dir() / f"{name}.toml"
        out[name] = parse_suite_text(
            resource.read_text(encoding="utf-8"), path=Path(f"<built-in>/{name}.toml"), builtin=True
        )
    return out


class SuiteLibrary:
    """The built-in suites plus every `*.toml` in the user's suite directories and extra files."""

    def __init__(self, user_dirs: Iterable[Path] = (), extra_files: Iterable[Path] = ()) -> None:
        self._files: dict[str, SuiteFile] = dict(builtin_suite_files())
        for path in [*_toml_files(user_dirs), *extra_files]:
            self._add(load_suite_file(path))

    def _add(self, suite: SuiteFile) -> None:
        existing = self._files.get(suite.name)
        if existing is not None:
            what = "a built-in suite" if existing.builtin else f"the suite in {existing.path}"
            raise SuiteError(
                f"{suite.path}: suite name '{suite.name}' is already used by {what}",
                hint="give your suite another name; use `extends` to build on a built-in one",
            )
        self._files[suite.name] = suite

    def names(self) -> list[str]:
        return sorted(
            self._files,
            key=lambda n: (n not in BUILTIN_NAMES, BUILTIN_NAMES.index(n) if n in BUILTIN_NAMES else 0, n),
        )

    def files(self) -> list[SuiteFile]:
        return [self._files[n] for n in self.names()]

    def get(self, name: str) -> Suite:
        if name not in self._files:
            raise NotFound(
                f"no probe suite named {name!r} (known: {', '.join(self.names())})",
                hint="`clawkeeper verify --list` shows the suites and where they come from",
            )
        return resolve(name, self._files.__getitem__, self._files.__contains__)


def _toml_files(dirs: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for directory in dirs:
        if directory.is_dir():
            found.extend(sorted(directory.glob("*.toml")))
    return found


def load_suite_file(path: Path) -> SuiteFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file", hint="check the path") from None
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read it ({exc.strerror})") from None
    return parse_suite_text(text, path=path)


def resolve(
    name: str,
    lookup: Callable[[str], SuiteFile],
    exists: Callable[[str], bool],
    _chain: Sequence[str] = (),
) -> Suite:
    """Expand `extends` (depth first, in order) and apply `exclude`; cycles and clashes are errors."""
    if name in _chain:
        raise SuiteError(
            f"suites extend each other in a cycle: {' → '.join([*_chain, name])}",
            hint="remove one of the `extends` entries",
        )
    current = lookup(name)
    probes: list[ProbeSpec] = []
    for parent in current.extends:
        if not exists(parent):
            raise SuiteError(
                f"{current.path}: suite '{name}' extends unknown suite '{parent}'",
                hint="check the name; `clawkeeper verify --list` shows the suites",
            )
        probes.extend(resolve(parent, lookup, exists, [*_chain, name]).probes)
    names = {p.name for p in probes}
    missing = [x for x in current.exclude if x not in names]
    if missing:
        raise SuiteError(
            f"{current.path}: suite '{name}' excludes '{missing[0]}', which it does not inherit",
            hint="`exclude` names probes of the extended suites",
        )
    probes = [p for p in probes if p.name not in current.exclude]
    inherited = {p.name for p in probes}
    for spec in current.probes:
        if spec.name in inherited:
            raise SuiteError(
                f"{spec.source}: probe '{spec.name}' is already defined by an extended suite",
                hint="rename it, or exclude the inherited one first",
            )
        probes.append(spec)
    return Suite(
        name=current.name,
        description=current.description,
        probes=tuple(probes),
        source=current.path,
        builtin=current.builtin,
        extends=current.extends,
    )
