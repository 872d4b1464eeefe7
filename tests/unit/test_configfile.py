"""The validated `backup` and `ledger` sections, served from a cache while nothing they depend on
changed: the file, the environment overrides, the folders defaults depend on, clawkeeper itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clawkeeper import config
from clawkeeper.config import load_config
from clawkeeper.configfile import read_raw, sections_cache_path, validated_sections
from clawkeeper.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def expected(cfg: Path | None, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The sections as pydantic validates them (not through `validate_raw`, which tests count)."""
    settings = config.Settings.model_validate(read_raw(cfg, env, cwd).data)
    return {
        "backup": settings.backup.model_dump(mode="json"),
        "ledger": settings.ledger.model_dump(mode="json"),
    }


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full validations (pydantic) that `validated_sections` asks for."""
    calls: list[int] = []
    real = config.validate_raw

    def counting(raw: Any) -> Any:
        calls.append(1)
        return real(raw)

    monkeypatch.setattr(config, "validate_raw", counting)
    return calls


def test_sections_are_validated_once_then_read_back_while_nothing_changes(
    tmp_path: Path, no_validation: list[int]
) -> None:
    cfg = write(tmp_path / "c.toml", '[backup]\nrepo = "repo"\nexclude = ["*.tmp"]\n[lab]\nport = 19000\n')
    env = {"CLAWKEEPER_BACKUP__INCLUDE_MODELS": "false"}
    first = validated_sections(cfg, env=env, cwd=tmp_path)
    assert first == expected(cfg, env, tmp_path)
    assert (
        first["backup"]["repo"] == str(tmp_path.resolve() / "repo")
        and first["backup"]["include_models"] is False
    )
    assert validated_sections(cfg, env=env, cwd=tmp_path) == first
    assert len(no_validation) == 1
    cache = sections_cache_path()
    assert cache.stat().st_mode & 0o777 == 0o600
    assert set(json.loads(cache.read_text())["sections"]) == {"backup", "ledger"}  # no other section


@pytest.mark.parametrize("change", ["file", "override", "default folder"])
def test_a_change_to_what_the_sections_depend_on_validates_again(
    tmp_path: Path, no_validation: list[int], change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "c.toml", '[backup]\nrepo = "/srv/one"\n')
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    validated_sections(cfg, env=env, cwd=tmp_path)
    if change == "file":
        write(cfg, '[backup]\nrepo = "/srv/two"\n')
    elif change == "override":
        env["CLAWKEEPER_BACKUP__REPO"] = "/srv/three"
    else:
        env["XDG_STATE_HOME"] = str(tmp_path / "elsewhere")
        monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])  # what platformdirs reads
    again = validated_sections(cfg, env=env, cwd=tmp_path)
    assert len(no_validation) == 2
    assert again == expected(cfg, env, tmp_path)


def test_an_invalid_configuration_fails_as_load_config_does_and_is_not_cached(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[backup]\nrepack_below = 7\n")
    with pytest.raises(ConfigError) as loaded:
        load_config(cfg, env={}, cwd=tmp_path)
    with pytest.raises(ConfigError) as sections:
        validated_sections(cfg, env={}, cwd=tmp_path)
    assert sections.value.one_line() == loaded.value.one_line()
    assert not sections_cache_path().exists()
    with pytest.raises(ConfigError, match="config file not found"):
        validated_sections(tmp_path / "missing.toml", env={}, cwd=tmp_path)


def test_a_changed_settings_model_or_a_damaged_cache_is_validated_again(
    tmp_path: Path, no_validation: list[int]
) -> None:
    validated_sections(env={}, cwd=tmp_path)
    cache = sections_cache_path()
    document = json.loads(cache.read_text())
    assert any(path.endswith("backup/settings.py") for path in document["sources"])
    document["sources"] = {path: [0, 0] for path in document["sources"]}  # as if edited since
    cache.write_text(json.dumps(document))
    assert validated_sections(env={}, cwd=tmp_path) == expected(None, {}, tmp_path)
    assert len(no_validation) == 2
    cache.write_text("{ not json")
    assert validated_sections(env={}, cwd=tmp_path) == expected(None, {}, tmp_path)
    assert len(no_validation) == 3
    assert validated_sections(env={}, cwd=tmp_path) == expected(None, {}, tmp_path)
    assert len(no_validation) == 3
