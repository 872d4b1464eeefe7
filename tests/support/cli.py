"""Run `clawkeeper` in-process, as the tests that drive the CLI do: exit code and captured output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clawkeeper.cli.main import main_exit_code


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `clawkeeper ARGS`; output captured earlier is dropped."""
    capsys.readouterr()
    code = main_exit_code(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """The JSON document `clawkeeper ARGS --json` prints; the command must succeed."""
    code, out, err = cli(capsys, *args, "--json")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document
