"""The configuration examples in docs/monitoring.md are valid settings (extra keys are refused)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from clawkeeper.monitor.settings import MonitorSettings

DOC = Path(__file__).resolve().parents[4] / "docs" / "monitoring.md"


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


@pytest.mark.parametrize("title", ["Notifications", "Prometheus export"])
def test_toml_examples_are_valid_monitor_settings(title: str) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", section(title), flags=re.S)
    assert blocks
    for block in blocks:
        MonitorSettings.model_validate(tomllib.loads(block)["monitor"])
