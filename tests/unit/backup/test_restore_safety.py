"""A repository is input: restore refuses traversal, absolute paths and symlink escapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from clawkeeper.backup.compress import StreamCompressor
from clawkeeper.backup.packs import BlobKind
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot, unsafe_reason
from clawkeeper.backup.snapshots import Snapshot, save_snapshot
from clawkeeper.backup.tree import Entry, EntryType
from clawkeeper.backup.writer import BlobWriter
from clawkeeper.errors import IntegrityError


def forge_snapshot(repo: Repository, entries: list[Entry]) -> str:
    """Write a snapshot with exactly these entries, as a tampered or buggy writer could."""
    writer = BlobWriter(repo, repo.load_index())
    for entry in entries:
        if entry.type is EntryType.FILE:
            blob_id, _ = writer.add(BlobKind.DATA, b"payload", StreamCompressor())
            entry.chunks = blob_id
            entry.size = len(b"payload")
    tree = b"".join(e.to_line() for e in entries)
    tree_id, _ = writer.add(BlobKind.TREE, tree, StreamCompressor())
    writer.finish()
    snapshot = Snapshot(
        time="2026-11-22T00:00:00+00:00",
        hostname="h",
        username="u",
        roots=[{"path": "/x", "role": "extra"}],
        tree=[tree_id],
    )
    return save_snapshot(repo, snapshot)


def file_entry(path: str) -> Entry:
    return Entry(path=path, type=EntryType.FILE, mode=0o644, mtime_ns=0)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../escape", "'.', '..' or empty component"),
        ("a/../../escape", "'.', '..' or empty component"),
        ("/etc/cron.d/evil", "absolute path"),
        ("a//b", "'.', '..' or empty component"),
        ("a/./b", "'.', '..' or empty component"),
        ("", "empty path"),
        ("a\x00b", "NUL byte in path"),
        ("home/me/.openclaw/openclaw.json", None),
    ],
)
def test_unsafe_paths_are_named(path: str, reason: str | None) -> None:
    assert unsafe_reason(path) == reason


@pytest.mark.parametrize("evil", ["../escape", "/tmp/abs-escape", "x/../../escape"])
def test_traversal_and_absolute_paths_restore_nothing(repo: Repository, tmp_path: Path, evil: str) -> None:
    snapshot_id = forge_snapshot(repo, [file_entry("x/ok"), file_entry(evil)])
    target = tmp_path / "target"
    with pytest.raises(IntegrityError, match="unsafe path"):
        restore_snapshot(repo, snapshot_id, RestoreOptions(target=target))
    assert not target.exists() or not any(target.iterdir())
    assert not (tmp_path / "escape").exists()


def test_a_file_below_a_snapshot_symlink_is_refused(repo: Repository, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link = Entry(path="x/link", type=EntryType.SYMLINK, mode=0o777, mtime_ns=0, link_target=str(outside))
    snapshot_id = forge_snapshot(repo, [link, file_entry("x/link/planted")])
    with pytest.raises(IntegrityError, match="below a symlink"):
        restore_snapshot(repo, snapshot_id, RestoreOptions(target=tmp_path / "target"))
    assert not (outside / "planted").exists()


def test_a_symlink_already_in_the_target_path_is_never_followed(repo: Repository, tmp_path: Path) -> None:
    # in place, the target is "/"; simulate with a selection whose parent is a symlink on disk
    outside = tmp_path / "outside"
    outside.mkdir()
    snapshot_id = forge_snapshot(repo, [file_entry("x/sub/file")])
    target = tmp_path / "target"
    target.mkdir()
    from clawkeeper.backup.restore import _Restorer
    from clawkeeper.backup.snapshots import iter_tree, load_snapshot

    (target / "x").mkdir()
    (target / "x" / "sub").symlink_to(outside)
    snap = load_snapshot(repo, snapshot_id)
    restorer = _Restorer(repo, snap, RestoreOptions(target=target), target)
    with pytest.raises(IntegrityError, match="symlink"):
        restorer.run(list(iter_tree(repo, snap)), None)
    assert not (outside / "file").exists()
    assert (target / "x" / "sub").is_symlink()
