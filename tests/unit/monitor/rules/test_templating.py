"""Annotation templates render as Prometheus renders them (promtool checks a sample of this too)."""

from __future__ import annotations

import math

import pytest

from clawkeeper.monitor.rules.templating import TemplateError, check_template, go_float, render


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (90.0, "90"),
        (87.5, "87.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.25, "-2.25"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_value_prints_like_go(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ $labels.mountpoint }} is {{ $value }}% full", 91.0, "/srv is 91% full"),
        ("[{{ $labels.absent }}]", 1.0, "[]"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ $value | humanize }}", 0.0025, "2.5m"),
        ("{{ $value | humanize1024 }}", 2048.0, "2ki"),
        ("{{ $value | humanizeDuration }}", 93784.0, "1d 2h 3m 4s"),
        ("{{ $value | humanizeDuration }}", 42.5, "42.5s"),
        ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
        ("{{ $value | humanizeDuration }}", math.inf, "+Inf"),
        ("{{ $value | humanizePercentage }}", 0.256, "25.6%"),
        ('{{ printf "%.1f" $value }}', 3.14159, "3.1"),
        ("{{$value}}", 3.0, "3"),
        ("no template", 3.0, "no template"),
    ],
)
def test_render(template: str, value: float, expected: str) -> None:
    assert render(template, {"mountpoint": "/srv"}, value) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ $value | shout }}", "unsupported template function `shout`"),
        ("{{ .Value }}", "unsupported template value `.Value`"),
        ("{{ $value ", "unbalanced"),
        ("{{ $labels.job | humanize }}", "needs a number"),
    ],
)
def test_unsupported_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        check_template(template)
