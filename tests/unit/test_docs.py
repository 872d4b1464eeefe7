"""Docs are generated from the code and must match it: exit codes and every command's --help."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.cli.reference import GENERATED

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_doc_is_current(name: str) -> None:
    expected = GENERATED[name]()
    actual = (DOCS / name).read_text() if (DOCS / name).exists() else ""
    assert actual == expected, f"docs/{name} is stale: run `python -m clawkeeper.cli.reference --write`"


def test_every_command_has_help_text() -> None:
    text = GENERATED["cli.md"]()
    sections = text.split("\n## ")[1:]
    assert len(sections) > 10
    for section in sections:
        title = section.splitlines()[0]
        assert "Usage:" in section, title


def test_readme_starts_with_the_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text().splitlines()
    block = readme[readme.index("```bash") + 1 : readme.index("```", readme.index("```bash") + 1)]
    assert [line.split("#")[0].strip() for line in block] == ["./dev/start", "./dev/test"]
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "./dev/test" in ci
