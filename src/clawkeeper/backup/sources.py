"""What an OpenClaw snapshot holds, and what it leaves out.

Given the paths an adapter discovered (state dir, config file, workspaces, extra paths), this
decides the source roots and the exclusion rules. It includes everything that is the agent's
state: config and its `$include` files, `.env`, credentials, every SQLite database (captured
through the backup API by `create`), session transcripts (JSONL and cold archives), workspaces,
skills and extensions. It leaves out what OpenClaw itself treats as rebuildable runtime folders
(docs/cli/backup.md): `dev/ git/ npm/ npm-runtime/ tmp/ tools/ plugin-skills/` at the state
root, plugin `node_modules`, sandbox skill workspaces, agent `tmp/` and `.tmp/`, sockets, PID and
temp files, Chromium `Singleton*` files. Unlike OpenClaw's own archive, transcripts, cron runs,
logs and delivery queues are kept: they are what users lose.

Exclusion patterns (user `exclude` and the defaults above):
- `name` or `*.ext` (no slash) matches that name at any depth;
- `dir/` (trailing slash) matches directories only;
- `a/b`, `a/**/c` (a slash inside) is anchored at each source root; `*` stays within one
  path component, `**` spans any number of them;
- `/abs/path/*` (leading slash) matches absolute source paths.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import json5

# Relative to the state dir: OpenClaw's rebuildable runtime roots.
STATE_DIR_EXCLUDES: tuple[str, ...] = (
    "dev/",
    "git/",
    "npm/",
    "npm-runtime/",
    "tmp/",
    "tools/",
    "plugin-skills/",
    "sandbox/skills-workspaces/",
    "agents/*/tmp/",
    "agents/*/.tmp/",
)
# Anywhere in any root.
GLOBAL_EXCLUDES: tuple[str, ...] = (
    "node_modules/",
    "*.sock",
    "*.pid",
    "*.tmp",
    "Singleton*",
)
MODEL_FILE_PATTERNS: tuple[str, ...] = ("*.gguf", "*.safetensors", "*.onnx", "*.pt", "*.pth", "*.ckpt")


@dataclass(frozen=True)
class OpenClawPaths:
    """What the adapter (or the user) knows about one OpenClaw install."""

    state_dir: Path | None = None
    config_path: Path | None = None
    workspaces: tuple[Path, ...] = ()
    extra: tuple[Path, ...] = ()


@dataclass(frozen=True)
class SourceRoot:
    path: Path  # absolute, resolved
    role: str  # state_dir, config, include, workspace, agent_dir, extra

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "role": self.role}


@dataclass(frozen=True)
class Rule:
    pattern: str
    regex: re.Pattern[str]
    dirs_only: bool
    scope: str  # "name", "anchored", "absolute"
    roles: frozenset[str] | None  # None: every root


@lru_cache(maxsize=512)
def _glob_regex(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        ch = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def make_rule(pattern: str, roles: Iterable[str] | None = None) -> Rule:
    text = pattern.strip()
    if not text:
        raise ValueError("empty exclude pattern")
    dirs_only = text.endswith("/")
    body = text.rstrip("/")
    if body.startswith("/"):
        scope = "absolute"
    elif "/" in body:
        scope = "anchored"
    else:
        scope = "name"
    return Rule(text, _glob_regex(body), dirs_only, scope, frozenset(roles) if roles is not None else None)


_Screen = tuple["re.Pattern[str] | None", "re.Pattern[str] | None", "re.Pattern[str] | None"]


@dataclass(frozen=True)
class Excludes:
    rules: tuple[Rule, ...]
    # per (root role, is_dir): the rules that apply, merged into one regex per scope, so the
    # scan (every path of every backup) tries one regex per scope rather than each rule in turn
    _screens: dict[tuple[str, bool], _Screen] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def match(self, root: SourceRoot, rel: str, abs_path: str, is_dir: bool) -> str | None:
        """The pattern that excludes this path, or None. `rel` is relative to the root."""
        name = rel[rel.rfind("/") + 1 :]
        if not screened(self.screen(root.role, is_dir), name, rel, abs_path):
            return None
        for rule in self._applicable(root.role, is_dir):  # which one (the first, in order)
            subject = {"name": name, "anchored": rel, "absolute": abs_path}[rule.scope]
            if rule.regex.match(subject):
                return rule.pattern
        return None  # pragma: no cover - the screen matched, so one rule does

    def _applicable(self, role: str, is_dir: bool) -> list[Rule]:
        return [
            rule
            for rule in self.rules
            if (is_dir or not rule.dirs_only) and (rule.roles is None or role in rule.roles)
        ]

    def screen(self, role: str, is_dir: bool) -> _Screen:
        """The rules for a root of this role and a directory or not, merged for `screened`."""
        found = self._screens.get((role, is_dir))
        if found is None:
            found = self._screens[(role, is_dir)] = self._screen(role, is_dir)
        return found

    def _screen(self, role: str, is_dir: bool) -> _Screen:
        def merged(scope: str) -> re.Pattern[str] | None:
            patterns = [r.regex.pattern for r in self._applicable(role, is_dir) if r.scope == scope]
            return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

        return merged("name"), merged("anchored"), merged("absolute")


def screened(screen: _Screen, name: str, rel: str, abs_path: str) -> bool:
    """True when some rule of `screen` (`Excludes.screen`) matches: a quick test that lets the
    scan skip `Excludes.match` for the paths no rule touches, which are nearly all of them."""
    by_name, anchored, absolute = screen
    return bool(
        (by_name is not None and by_name.match(name))
        or (anchored is not None and anchored.match(rel))
        or (absolute is not None and absolute.match(abs_path))
    )


@dataclass(frozen=True)
class SourceSet:
    roots: tuple[SourceRoot, ...]
    excludes: Excludes
    config_path: Path | None = None
    config_hash: str | None = None
    config_version: str | None = None  # meta.lastTouchedVersion: the release that last wrote it
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.config_path is not None:
            out["config_path"] = str(self.config_path)
        if self.config_hash is not None:
            out["config_hash"] = self.config_hash
        if self.config_version is not None:
            out["config_last_touched_version"] = self.config_version
        return out


def _load_json5(path: Path) -> Any:
    return json5.loads(path.read_text(encoding="utf-8"))


def _include_values(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$include":
                if isinstance(value, str):
                    yield value
                elif isinstance(value, list):
                    yield from (v for v in value if isinstance(v, str))
            else:
                yield from _include_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _include_values(item)


def config_includes(config_path: Path) -> tuple[list[Path], list[str], Any]:
    """Every file reached through `$include` from the config, recursively.

    Returns (include paths, warnings, the parsed root config or None). A config that does not
    parse is still backed up as a file; we just cannot follow its includes.
    """
    warnings: list[str] = []
    found: list[Path] = []
    seen: set[Path] = {config_path.resolve()}
    queue: list[Path] = [config_path]
    root_doc: Any = None
    while queue:
        current = queue.pop(0)
        try:
            doc = _load_json5(current)
        except FileNotFoundError:
            warnings.append(f"config include {current} does not exist")
            continue
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            warnings.append(f"cannot parse {current} to follow its $include entries: {exc}")
            continue
        if current == config_path:
            root_doc = doc
        for value in _include_values(doc):
            candidate = Path(value).expanduser()
            if not candidate.is_absolute():
                candidate = current.parent / candidate
            resolved = candidate.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            found.append(resolved)
            queue.append(resolved)
    return found, warnings, root_doc


def _config_workspaces(doc: Any, base: Path) -> list[tuple[Path, str]]:
    """Workspaces and agent dirs named in the config (agents.defaults.workspace, agents.list[])."""
    out: list[tuple[Path, str]] = []
    agents = doc.get("agents") if isinstance(doc, dict) else None
    if not isinstance(agents, dict):
        return out
    defaults = agents.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("workspace"), str):
        out.append((Path(defaults["workspace"]).expanduser(), "workspace"))
    listed = agents.get("list")
    if isinstance(listed, list):
        for agent in listed:
            if not isinstance(agent, dict):
                continue
            for key, role in (("workspace", "workspace"), ("agentDir", "agent_dir")):
                if isinstance(agent.get(key), str):
                    out.append((Path(agent[key]).expanduser(), role))
    return [(p if p.is_absolute() else base / p, role) for p, role in out]


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def openclaw_sources(
    paths: OpenClawPaths,
    *,
    exclude: Sequence[str] = (),
    include_models: bool = True,
    default_excludes: bool = True,
) -> SourceSet:
    """The roots and exclusion rules of a whole-agent snapshot."""
    warnings: list[str] = []
    candidates: list[tuple[Path, str]] = []
    if paths.state_dir is not None:
        candidates.append((paths.state_dir, "state_dir"))
    config_path = paths.config_path
    if config_path is None and paths.state_dir is not None:
        default_config = paths.state_dir / "openclaw.json"
        config_path = default_config if default_config.exists() else None
    config_hash = config_version = None
    if config_path is not None:
        candidates.append((config_path, "config"))
        try:
            config_hash = hashlib.sha256(config_path.read_bytes()).hexdigest()
        except OSError as exc:
            warnings.append(f"cannot read config {config_path}: {exc.strerror}")
        includes, include_warnings, doc = config_includes(config_path)
        warnings.extend(include_warnings)
        candidates.extend((inc, "include") for inc in includes)
        candidates.extend(_config_workspaces(doc, config_path.parent))
        meta = doc.get("meta") if isinstance(doc, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("lastTouchedVersion"), str):
            config_version = meta["lastTouchedVersion"]
    candidates.extend((w, "workspace") for w in paths.workspaces)
    candidates.extend((e, "extra") for e in paths.extra)

    roots: list[SourceRoot] = []
    for raw, role in candidates:
        absolute = Path(raw).expanduser().absolute()
        if not absolute.exists() and not absolute.is_symlink():
            if role != "include":  # missing includes were reported by config_includes
                warnings.append(f"{role.replace('_', ' ')} {absolute} does not exist; skipped")
            continue
        resolved = absolute.resolve()
        roots.append(SourceRoot(resolved, role))
    # drop roots already covered by another root (the config inside the state dir, say)
    roots.sort(key=lambda r: (len(r.path.parts), str(r.path)))
    kept: list[SourceRoot] = []
    for root in roots:
        if any(_is_within(root.path, k.path) for k in kept):
            continue
        kept.append(root)
    kept.sort(key=lambda r: str(r.path))

    rules: list[Rule] = []
    if default_excludes:
        rules.extend(make_rule(p, roles=("state_dir",)) for p in STATE_DIR_EXCLUDES)
        rules.extend(make_rule(p) for p in GLOBAL_EXCLUDES)
    if not include_models:
        rules.extend(make_rule(p) for p in MODEL_FILE_PATTERNS)
    rules.extend(make_rule(p) for p in exclude)
    return SourceSet(
        roots=tuple(kept),
        excludes=Excludes(tuple(rules)),
        config_path=config_path.resolve() if config_path is not None else None,
        config_hash=config_hash,
        config_version=config_version,
        warnings=tuple(warnings),
    )


def plain_sources(paths: Sequence[Path], *, exclude: Sequence[str] = ()) -> SourceSet:
    """Roots for backing up arbitrary paths (no OpenClaw rules), e.g. tests and benchmarks."""
    roots = sorted(
        {SourceRoot(Path(p).expanduser().resolve(), "extra") for p in paths},
        key=lambda r: str(r.path),
    )
    return SourceSet(roots=tuple(roots), excludes=Excludes(tuple(make_rule(p) for p in exclude)))
