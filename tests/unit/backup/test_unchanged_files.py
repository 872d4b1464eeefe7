"""Backups with little changed: unchanged files keep their parent's tree line, changed ones are read.

A file is unchanged when its size, mtime, ctime and inode (and mode, owner) match its line in the
parent snapshot; then that line is stored again as it is, byte for byte, once its chunks are
known to be stored in packs no prune has marked.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from clawkeeper.backup import writer as writer_module
from clawkeeper.backup.create import BackupOptions, create_snapshot
from clawkeeper.backup.packs import pack_object_name
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.tree import Entry, EntryType
from clawkeeper.errors import IntegrityError


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        (root / f"f{i}.txt").write_bytes(os.urandom(3000 + i))
    (root / "sub" / 'odd "name" \\ é.txt').write_bytes(b"quoted path\n")
    (root / "sub" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # several chunks
    (root / "empty").write_bytes(b"")
    (root / "link").symlink_to("f0.txt")
    return root


def entries(repo: Repository, snapshot_id: str) -> dict[str, Entry]:
    return {e.path.rsplit("/", 1)[-1]: e for e in iter_tree(repo, load_snapshot(repo, snapshot_id))}


def test_a_backup_with_nothing_changed_stores_the_same_file_list_and_reads_nothing(
    repo: Repository, files: Path
) -> None:
    sources = plain_sources([files])
    first = create_snapshot(repo, sources)
    second = create_snapshot(repo, sources)
    stats = second.snapshot.stats
    assert stats["files_read"] == 0 and stats["files_reused"] == stats["files"] == 9
    assert stats["added_raw_bytes"] == 0
    assert second.snapshot.tree == first.snapshot.tree  # the very same file list, byte for byte
    assert second.snapshot.parent == first.snapshot.id


@pytest.mark.parametrize("change", ["content, same size and mtime", "mode", "inode", "mtime only"])
def test_a_file_whose_size_mtime_ctime_or_inode_changed_is_read_again(
    repo: Repository, files: Path, change: str
) -> None:
    sources = plain_sources([files])
    first = create_snapshot(repo, sources)
    target = files / "f3.txt"
    before = target.stat()
    new_content = os.urandom(before.st_size)
    if change == "content, same size and mtime":
        target.write_bytes(new_content)  # ctime moves; mtime is put back
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    elif change == "mode":
        target.chmod(0o640)
        new_content = target.read_bytes()
    elif change == "inode":  # replaced by a copy with the same bytes and times
        copy = files / "copy.tmp"
        shutil.copy2(target, copy)
        copy.replace(target)
        new_content = target.read_bytes()
    else:
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
        new_content = target.read_bytes()
    second = create_snapshot(repo, sources)
    assert second.snapshot.stats["files_read"] == 1
    assert second.snapshot.stats["files_reused"] == 8
    entry = entries(repo, second.snapshot.id)["f3.txt"]
    now = target.stat()
    assert entry.mode == now.st_mode & 0o7777
    assert entry.sig == f"{now.st_size}:{now.st_mtime_ns}:{now.st_ctime_ns}:{now.st_ino}"
    stored = b"".join(repo.read_blob(blob) for blob in entry.content)
    assert stored == new_content
    untouched = entries(repo, first.snapshot.id)["f2.txt"]
    assert entries(repo, second.snapshot.id)["f2.txt"] == untouched


def test_without_the_files_cache_every_file_is_read(repo: Repository, files: Path) -> None:
    sources = plain_sources([files])
    first = create_snapshot(repo, sources)
    again = create_snapshot(repo, sources, BackupOptions(use_files_cache=False))
    assert again.snapshot.stats["files_read"] == 9 and again.snapshot.stats["files_reused"] == 0
    assert again.snapshot.tree == first.snapshot.tree  # same content, same lines


def test_a_file_list_naming_a_deleted_pack_is_refused(
    repo: Repository, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unchanged files depend on the packs holding their chunks: one deleted while the backup
    ran (a prune that judged it dead) fails the backup instead of saving a broken snapshot."""
    sources = plain_sources([files])
    first = create_snapshot(repo, sources)
    big = next(e for e in iter_tree(repo, first.snapshot) if e.path.endswith("big.bin"))
    location = repo.index.lookup(big.content[0])
    assert location is not None
    original_finish = writer_module.BlobWriter.finish

    def finish_then_lose_a_pack(self: writer_module.BlobWriter) -> None:
        original_finish(self)
        repo.target.delete(pack_object_name(location.pack_id))

    monkeypatch.setattr(writer_module.BlobWriter, "finish", finish_then_lose_a_pack)
    with pytest.raises(IntegrityError, match="deleted while it ran"):
        create_snapshot(repo, sources)


def test_the_parent_line_is_not_reused_for_a_path_that_changed_type(repo: Repository, files: Path) -> None:
    sources = plain_sources([files])
    create_snapshot(repo, sources)
    (files / "f1.txt").unlink()
    (files / "f1.txt").mkdir()
    second = create_snapshot(repo, sources)
    assert entries(repo, second.snapshot.id)["f1.txt"].type is EntryType.DIR
    assert second.snapshot.stats["files"] == 8
