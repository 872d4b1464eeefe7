"""Shared test fixtures: every test gets its own config, ledger and XDG dirs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_xdg(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep tests away from the real ~/.config, ~/.local and the repo's clawkeeper.toml."""
    base = tmp_path_factory.mktemp("xdg")
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (base / sub).mkdir()
        monkeypatch.setenv(var, str(base / sub))
    for name in list(__import__("os").environ):
        if name.startswith("CLAWKEEPER_"):
            monkeypatch.delenv(name, raising=False)
    yield base


_skipped_lab_tests: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "lab" in report.keywords:
        _skipped_lab_tests.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped lab test is a failure: the lab must start wherever the suite runs (CI included)."""
    if _skipped_lab_tests:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{len(_skipped_lab_tests)} lab test(s) were skipped; lab tests must run: "
                + ", ".join(_skipped_lab_tests[:5]),
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
