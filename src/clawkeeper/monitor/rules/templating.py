"""Annotation templates, the subset of Prometheus' Go templates that rules need.

    "{{ $labels.mountpoint }} is {{ $value | humanizePercentage }} full"

Supported, with the same output as Prometheus so the generated rule file renders alike:
`{{ $value }}`, `{{ $labels.NAME }}` (a missing label renders empty), pipes into `humanize`,
`humanize1024`, `humanizeDuration`, `humanizePercentage`, and `{{ printf "%.1f" $value }}`.
`$labels` are the series' labels (not the rule's extra labels), as in Prometheus. Anything else
is refused when the rule is loaded (`check_template`), so a typo never reaches a notification.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_PRINTF = re.compile(r'^printf\s+"(%[-+ 0#]*\d*(?:\.\d+)?[fegdGEs%])"\s+(\$value|\$labels\.[A-Za-z_]\w*)$')
_LABEL = re.compile(r"^\$labels\.([A-Za-z_]\w*)$")


class TemplateError(ValueError):
    """A template uses something this renderer does not support."""


def go_float(value: float) -> str:
    """A float as Go's `%v` prints it (what `{{ $value }}` shows): shortest digits, an exponent
    from 1e+06 and below 1e-04 (90 -> "90", 1234567 -> "1.234567e+06"), +Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    if not isinstance(exponent, int):  # only for NaN/Inf, handled above
        return repr(value)
    point = len(digit_tuple) + exponent  # digits before the decimal point
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    power = point - 1
    if power < -4 or power >= 6:
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def humanize(value: float) -> str:
    """SI prefixes with four significant digits, as Prometheus' `humanize`: 1234 -> 1.234k."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        prefix = ""
        for unit in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = unit
            value /= 1000
        return f"{_g4(value)}{prefix}"
    prefix = ""
    for unit in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = unit
        value *= 1000
    return f"{_g4(value)}{prefix}"


def humanize1024(value: float) -> str:
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    for unit in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix = unit
        value /= 1024
    return f"{_g4(value)}{prefix}"


def humanize_duration(value: float) -> str:
    """Seconds as Prometheus' `humanizeDuration`: 93784 -> '1d 2h 3m 4s', 0.25 -> '250ms'."""
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return "0s"
    if abs(value) < 1:
        prefix = ""
        for unit in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(value) >= 1:
                break
            prefix = unit
            value *= 1000
        return f"{_g4(value)}{prefix}s"
    sign = "-" if value < 0 else ""
    seconds = abs(value)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{_g4(seconds)}s"


def humanize_percentage(value: float) -> str:
    return f"{_g4(value * 100)}%"


def _g4(value: float) -> str:
    """Go's `%.4g`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.4g}"
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').rjust(2, '0')}"
    return text


FILTERS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
}


def _value_of(token: str, labels: Mapping[str, str], value: float | None) -> float | str:
    if token == "$value":  # noqa: S105 - a template variable, not a secret
        return math.nan if value is None else value
    found = _LABEL.match(token)
    if found is None:
        raise TemplateError(f"unsupported template value `{token}` (use $value or $labels.NAME)")
    return labels.get(found.group(1), "")


def _render_action(action: str, labels: Mapping[str, str], value: float | None) -> str:
    printf = _PRINTF.match(action)
    if printf is not None:
        fmt, token = printf.groups()
        arg = _value_of(token, labels, value)
        if fmt.endswith("s"):
            return fmt % (arg if isinstance(arg, str) else go_float(arg))
        if isinstance(arg, str):
            try:
                arg = float(arg)
            except ValueError:
                return f"%!{fmt[-1]}(string={arg})"
        return fmt % (int(arg) if fmt.endswith("d") else arg)
    parts = [p.strip() for p in action.split("|")]
    result = _value_of(parts[0], labels, value)
    for name in parts[1:]:
        func = FILTERS.get(name)
        if func is None:
            known = ", ".join(sorted(FILTERS))
            raise TemplateError(f"unsupported template function `{name}` (supported: {known}, printf)")
        if isinstance(result, str):
            try:
                result = float(result)
            except ValueError:
                raise TemplateError(f"`{name}` needs a number, not the label text {result!r}") from None
        result = func(result)
    return result if isinstance(result, str) else go_float(result)


def render(template: str, labels: Mapping[str, str], value: float | None) -> str:
    """Expand every `{{ ... }}` in `template`. Raises TemplateError on unsupported syntax."""
    return _ACTION.sub(lambda m: _render_action(m.group(1), labels, value), template)


def check_template(template: str) -> None:
    """Raise TemplateError when `template` would not render (checked once, at load)."""
    if template.count("{{") != template.count("}}"):
        raise TemplateError("unbalanced '{{' and '}}'")
    render(template, {}, 1.0)
