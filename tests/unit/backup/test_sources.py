"""What an agent snapshot holds: OpenClaw's state, its includes, and not its rebuildable junk."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.backup.sources import Excludes, OpenClawPaths, SourceRoot, make_rule, openclaw_sources


@pytest.mark.parametrize(
    ("pattern", "rel", "is_dir", "excluded"),
    [
        ("node_modules/", "extensions/p/node_modules", True, True),
        ("node_modules/", "extensions/p/node_modules", False, False),  # a file of that name stays
        ("*.sock", "gateway.sock", False, True),
        ("*.sock", "deep/dir/x.sock", False, True),
        ("tmp/", "tmp", True, True),
        ("tmp/", "agents/main/tmp", True, True),  # no slash inside: any depth
        ("agents/*/tmp/", "agents/main/tmp", True, True),
        ("agents/*/tmp/", "agents/main/sub/tmp", True, False),  # * stays in one component
        ("workspace/**/cache/", "workspace/a/b/cache", True, True),
        ("workspace/**/cache/", "workspace/cache", True, True),
        ("logs/*.log", "logs/gateway.log", False, True),
        ("logs/*.log", "logs/raw-stream.jsonl", False, False),
    ],
)
def test_exclude_pattern_semantics(pattern: str, rel: str, is_dir: bool, excluded: bool) -> None:
    root = SourceRoot(Path("/state"), "state_dir")
    rules = Excludes((make_rule(pattern),))
    assert (rules.match(root, rel, f"/state/{rel}", is_dir) is not None) is excluded


def test_absolute_patterns_match_absolute_paths() -> None:
    rules = Excludes((make_rule("/srv/agent/big/*"),))
    root = SourceRoot(Path("/srv/agent"), "extra")
    assert rules.match(root, "big/model.bin", "/srv/agent/big/model.bin", False)
    assert not rules.match(root, "small/x", "/srv/agent/small/x", False)


def test_state_dir_rules_apply_only_to_the_state_dir(agent_state: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "tmp").mkdir(parents=True)
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state, workspaces=(workspace,)))
    state_root = next(r for r in sources.roots if r.role == "state_dir")
    ws_root = next(r for r in sources.roots if r.role == "workspace")
    assert sources.excludes.match(state_root, "tmp", str(agent_state / "tmp"), True)
    assert sources.excludes.match(ws_root, "tmp", str(workspace / "tmp"), True) is None


def test_config_includes_are_followed_and_external_ones_become_roots(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "channels.json5").write_text('{ "$include": "./deeper.json5", a: 1 }')
    (shared / "deeper.json5").write_text("{ b: 2 }")
    (state / "agents.json5").write_text("{ c: 3 }")
    config = state / "openclaw.json"
    config.write_text(
        "{ // json5 with comments\n"
        ' "$include": ["./agents.json5", "../shared/channels.json5", "./missing.json5"],'
        ' meta: { lastTouchedVersion: "2026.9.6" } }'
    )
    sources = openclaw_sources(OpenClawPaths(state_dir=state))
    roots = {(r.path, r.role) for r in sources.roots}
    assert (state.resolve(), "state_dir") in roots
    assert (shared.resolve() / "channels.json5", "include") in roots
    assert (shared.resolve() / "deeper.json5", "include") in roots
    assert not any(p == state.resolve() / "agents.json5" for p, _ in roots)  # inside the state dir already
    assert any("missing.json5" in w for w in sources.warnings)
    assert sources.config_version == "2026.9.6"
    assert sources.config_hash is not None and len(sources.config_hash) == 64


def test_workspaces_named_in_the_config_are_included(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    elsewhere = tmp_path / "ws-main"
    elsewhere.mkdir()
    (state / "openclaw.json").write_text(f'{{ agents: {{ defaults: {{ workspace: "{elsewhere}" }} }} }}')
    sources = openclaw_sources(OpenClawPaths(state_dir=state))
    assert SourceRoot(elsewhere.resolve(), "workspace") in sources.roots


def test_a_broken_config_is_still_backed_up_with_a_warning(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "openclaw.json").write_text("{ not json5 at all ")
    sources = openclaw_sources(OpenClawPaths(state_dir=state))
    assert [r.role for r in sources.roots] == ["state_dir"]
    assert any("cannot parse" in w for w in sources.warnings)


def test_model_files_are_optional(agent_state: Path) -> None:
    root = SourceRoot(agent_state, "state_dir")
    with_models = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    without = openclaw_sources(OpenClawPaths(state_dir=agent_state), include_models=False)
    assert with_models.excludes.match(root, "models/x.gguf", "/x", False) is None
    assert without.excludes.match(root, "models/x.gguf", "/x", False) == "*.gguf"


def test_missing_paths_are_warned_about_not_fatal(tmp_path: Path) -> None:
    sources = openclaw_sources(OpenClawPaths(state_dir=tmp_path / "nope", extra=(tmp_path,)))
    assert [r.path for r in sources.roots] == [tmp_path.resolve()]
    assert any("does not exist" in w for w in sources.warnings)


def test_the_merged_screen_excludes_exactly_what_the_rules_one_by_one_do() -> None:
    """The scan asks one merged regex per scope first (`screened`); `match` then names the rule.
    Both must agree with trying every rule in turn, for every role and kind of path."""
    from clawkeeper.backup.sources import GLOBAL_EXCLUDES, MODEL_FILE_PATTERNS, STATE_DIR_EXCLUDES, screened

    rules = (
        *(make_rule(p, roles=("state_dir",)) for p in STATE_DIR_EXCLUDES),
        *(
            make_rule(p)
            for p in (*GLOBAL_EXCLUDES, *MODEL_FILE_PATTERNS, "/srv/agent/big/*", "logs/**/*.log")
        ),
    )
    excludes = Excludes(rules)
    names = ["tmp", "node_modules", "x.sock", "Singleton Lock", "a.gguf", "notes.md", "dev", "cache", "y.log"]
    rels = [
        *names,
        *(f"agents/main/{n}" for n in names),
        *(f"logs/a/b/{n}" for n in names),
        "sandbox/skills-workspaces",
        "big/model.bin",
    ]
    for role, base in (("state_dir", "/srv/agent"), ("workspace", "/srv/ws")):
        root = SourceRoot(Path(base), role)
        for rel in rels:
            for is_dir in (False, True):
                path = f"{base}/{rel}"
                expected = None
                for rule in rules:
                    if (rule.dirs_only and not is_dir) or (rule.roles is not None and role not in rule.roles):
                        continue
                    subject = {"name": rel.rsplit("/", 1)[-1], "anchored": rel, "absolute": path}[rule.scope]
                    if rule.regex.match(subject):
                        expected = rule.pattern
                        break
                name = rel.rsplit("/", 1)[-1]
                assert screened(excludes.screen(role, is_dir), name, rel, path) is (expected is not None)
                assert excludes.match(root, rel, path, is_dir) == expected, (role, rel, is_dir)
