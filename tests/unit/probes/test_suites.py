"""Suites: the built-in levels, user suites, and validation errors that name file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.errors import ExitCode, NotFound
from clawkeeper.probes.suites import SuiteError, SuiteLibrary, load_suite_file, parse_suite_text


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_levels_match_the_update_policy() -> None:
    library = SuiteLibrary()
    smoke = library.get("smoke").probe_names()
    regression = library.get("regression").probe_names()
    full = library.get("full").probe_names()
    assert smoke == ["live", "ready", "version", "config", "doctor"]
    assert regression[: len(smoke)] == smoke
    assert {"agent-turn", "tool-call", "memory", "cron", "plugins", "channels", "security"} <= set(regression)
    assert full[: len(regression)] == regression
    assert {"restart-survival", "soak"} <= set(full)
    assert not library.get("smoke").needs_model()
    assert library.get("regression").needs_model()
    soak = next(p for p in library.get("full").probes if p.name == "soak")
    assert soak.compare is not None and soak.limits.count >= soak.compare.min_samples


def test_a_user_suite_extends_a_builtin_and_adds_a_plugin_probe(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mine.toml",
        """
[suite]
name = "mine"
extends = ["regression"]
exclude = ["channels"]

[[probe]]
name = "matrix-plugin"
kind = "openclaw.plugins"
require = ["matrix"]
""",
    )
    suite = SuiteLibrary([tmp_path]).get("mine")
    names = suite.probe_names()
    assert names[-1] == "matrix-plugin" and "channels" not in names and "tool-call" in names
    assert suite.probes[-1].params == {"require": ["matrix"]}


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ('[[probe]]\nname = "x"\nkind = "htp"\npath = "/healthz"\n', 3, "unknown kind 'htp'"),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npath = "/healthz"\nsuccess = "result.status = 200"\n',
            5,
            "bad success condition",
        ),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npath = "/healthz"\nfailure = "os.system(1)"\n',
            5,
            "bad failure condition",
        ),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npathh = "/healthz"\n',
            4,
            "unknown key 'pathh' for kind http",
        ),
        ('[[probe]]\nname = "x"\nkind = "http"\n', 1, "set exactly one of `path`"),
        ('[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\ncount = 0\n', 5, "`count` must be between 1"),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\ninterval = "soon"\n',
            5,
            "`interval`: 'soon' is not a duration",
        ),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\ntimeout = 0\n',
            5,
            "`timeout` must be more than 0",
        ),
        (
            '[[probe]]\nname = "a"\nkind = "http"\npath = "/h"\n\n'
            '[[probe]]\nname = "a"\nkind = "http"\npath = "/h"\n',
            7,
            "same name",
        ),
        ('[[probe]]\nkind = "http"\npath = "/h"\n', 1, "`name` is required"),
        (
            '[[probe]]\nname = "x"\nkind = "command"\nargv = ["true"]\nexpect_output = "("\n',
            5,
            "not a valid regular expression",
        ),
        (
            '[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\n[probe.compare]\nmetrik = "latency_ms"\n',
            6,
            "unknown key 'metrik' in compare",
        ),
        ('[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\nsuccess = 200\n', 5, "must be a string"),
        ('[[probe]\nname = "x"\n', 1, "not valid TOML"),
    ],
)
def test_mistakes_are_reported_with_file_line_and_reason(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = write(tmp_path, "bad.toml", '[suite]\nname = "bad"\n\n' + body)
    with pytest.raises(SuiteError) as caught:
        load_suite_file(path)
    message = caught.value.message
    assert message.startswith(f"{path}:{line + 3}:"), message
    assert reason in message
    assert caught.value.exit_code is ExitCode.CONFIG


def test_interval_accepts_durations() -> None:
    suite = parse_suite_text(
        '[suite]\nname = "d"\n[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\ninterval = "1.5s"\n'
        'initial_delay = "500ms"\ntimeout = "2m"\ncount = 2\n',
        path=None,
    )
    spec = suite.probes[0]
    assert (spec.limits.interval_s, spec.limits.initial_delay_s, spec.timeout_s) == (1.5, 0.5, 120.0)


def test_a_user_suite_cannot_take_a_builtin_name(tmp_path: Path) -> None:
    write(
        tmp_path, "smoke.toml", '[suite]\nname = "smoke"\n[[probe]]\nname = "x"\nkind = "http"\npath = "/h"\n'
    )
    with pytest.raises(SuiteError, match="already used by a built-in suite"):
        SuiteLibrary([tmp_path])


def test_extends_must_exist_and_must_not_loop(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", '[suite]\nname = "a"\nextends = ["b"]\n')
    write(tmp_path, "b.toml", '[suite]\nname = "b"\nextends = ["a"]\n')
    write(tmp_path, "c.toml", '[suite]\nname = "c"\nextends = ["nope"]\n')
    library = SuiteLibrary([tmp_path])
    with pytest.raises(SuiteError, match="cycle: a → b → a"):
        library.get("a")
    with pytest.raises(SuiteError, match="extends unknown suite 'nope'"):
        library.get("c")


def test_a_redefined_inherited_probe_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "x.toml",
        '[suite]\nname = "x"\nextends = ["smoke"]\n[[probe]]\nname = "live"\nkind = "http"\npath = "/h"\n',
    )
    with pytest.raises(SuiteError, match="already defined by an extended suite"):
        SuiteLibrary([tmp_path]).get("x")


def test_an_unknown_suite_lists_the_known_ones() -> None:
    with pytest.raises(NotFound, match="known: smoke, regression, full"):
        SuiteLibrary().get("nightly")
