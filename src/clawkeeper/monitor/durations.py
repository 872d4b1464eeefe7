"""Durations in config and on the command line: "500ms", "90s", "5m", "2h", "7d", "1w", "1h30m",
or a plain number of seconds. Prometheus spells durations the same way, so rule files round-trip."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: Any) -> float:
    """Seconds from a duration string or number. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '90s', '5m', '2h' or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text and _PART.sub("", text) == "" and _PART.match(text):
            return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if number >= 0:
                return number
    raise ValueError(f"{value!r} is not a duration; write e.g. '90s', '5m', '2h', '7d' or seconds")


def format_duration(seconds: float) -> str:
    """The shortest Prometheus-style spelling: 300 -> '5m', 5400 -> '1h30m', 0.5 -> '500ms'."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    remaining = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            count, remaining = divmod(remaining, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
