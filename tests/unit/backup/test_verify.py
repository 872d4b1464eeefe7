"""verify: structure, --read-data and rotating samples; damage reported by pack, file, snapshot."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawkeeper.backup import forked, verify
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.packs import pack_object_name
from clawkeeper.backup.repository import Credentials, Repository, init_repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.verify import VerifyOptions, verify_repository

from .conftest import PASSPHRASE, reopen


def two_snapshots(repo: Repository, tmp_path: Path) -> tuple[str, str, Path, Path]:
    """Snapshot A of dir a and B of dir b, with no data in common."""
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "secret.json").write_bytes(os.urandom(20_000))
        (folder / "notes.md").write_text(f"notes of {folder.name}\n" * 100)
    snap_a = create_snapshot(repo, plain_sources([a])).snapshot.id
    snap_b = create_snapshot(repo, plain_sources([b])).snapshot.id
    return snap_a, snap_b, a, b


def pack_of(repo: Repository, snapshot_id: str, name: str) -> tuple[str, int]:
    """The pack holding the first chunk of file `name` in the snapshot, and that chunk's offset."""
    snap = load_snapshot(repo, snapshot_id)
    entry = next(e for e in iter_tree(repo, snap) if e.path.endswith(name))
    located = repo.index.lookup(entry.content[0])
    assert located is not None
    return located.pack_id, located.offset


def test_a_fresh_repository_verifies_in_every_mode(repo: Repository, tmp_path: Path) -> None:
    two_snapshots(repo, tmp_path)
    for options in (VerifyOptions(), VerifyOptions(read_data=True), VerifyOptions(sample_percent=50)):
        report = verify_repository(reopen(repo.target.root), options)  # type: ignore[attr-defined]
        assert report.outcome.ok, report.problems
        assert report.snapshots == 2 and len(report.intact_snapshots) == 2


@pytest.mark.parametrize("workers", ["processes", "threads"])
def test_a_flipped_byte_is_found_by_read_data_and_named_by_pack_file_and_snapshot(
    repo: Repository, repo_path: Path, tmp_path: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # local repositories are read back by forked workers (remote ones by threads): same findings
    if workers == "threads":
        monkeypatch.setattr(verify, "VERIFY_PROCESSES", 1)
    else:
        monkeypatch.setattr(verify, "VERIFY_PROCESSES", 2)
        assert forked.usable(repo.target, 2)
    snap_a, snap_b, _a, b = two_snapshots(repo, tmp_path)
    pack_id, offset = pack_of(repo, snap_a, "secret.json")
    pack_file = repo_path / pack_object_name(pack_id)
    data = bytearray(pack_file.read_bytes())
    data[offset + 100] ^= 0x40
    pack_file.write_bytes(bytes(data))

    structure = verify_repository(reopen(repo_path))
    assert structure.outcome.ok  # same size, same name: only reading the data can tell

    report = verify_repository(reopen(repo_path), VerifyOptions(read_data=True))
    assert not report.outcome.ok
    assert pack_id in report.damaged_packs
    assert any(
        f["path"].endswith("a/secret.json") and f["snapshot"] == snap_a[:8] for f in report.damaged_files
    )
    assert report.damaged_snapshots == [snap_a] and report.intact_snapshots == [snap_b]

    # the intact snapshot still restores, byte for byte
    target = tmp_path / "restored"
    restore_snapshot(reopen(repo_path), snap_b, RestoreOptions(target=target))
    assert (target / str(b).lstrip("/") / "secret.json").read_bytes() == (b / "secret.json").read_bytes()


def test_a_truncated_pack_is_found_even_by_the_structure_check(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    snap_a, snap_b, _a, _b = two_snapshots(repo, tmp_path)
    pack_id, _offset = pack_of(repo, snap_a, "secret.json")
    pack_file = repo_path / pack_object_name(pack_id)
    pack_file.write_bytes(pack_file.read_bytes()[:1000])
    for options in (VerifyOptions(), VerifyOptions(read_data=True)):
        report = verify_repository(reopen(repo_path), options)
        assert "truncated" in report.damaged_packs[pack_id]
        assert snap_a in report.damaged_snapshots and snap_b in report.intact_snapshots
        assert any(f["path"].endswith("a/secret.json") for f in report.damaged_files)


def test_a_missing_pack_and_a_damaged_index_or_snapshot_are_reported(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    snap_a, snap_b, _a, _b = two_snapshots(repo, tmp_path)
    pack_id, _ = pack_of(repo, snap_a, "notes.md")
    (repo_path / pack_object_name(pack_id)).unlink()
    report = verify_repository(reopen(repo_path))
    assert report.damaged_packs[pack_id] == "missing from the repository"

    snapshot_file = repo_path / "snapshots" / snap_b
    snapshot_file.write_bytes(snapshot_file.read_bytes()[:-3] + b"xyz")
    report = verify_repository(reopen(repo_path))
    assert any(p.kind == "snapshot" and p.name == snap_b[:8] for p in report.problems)

    index_file = next((repo_path / "index").iterdir())
    index_file.write_bytes(b"garbage")
    report = verify_repository(reopen(repo_path))
    assert any(p.kind == "index" for p in report.problems)


def test_interrupted_backup_leftovers_are_notes_not_failures(
    repo: Repository, repo_path: Path, tmp_path: Path
) -> None:
    two_snapshots(repo, tmp_path)
    orphan = repo_path / "data" / "ab" / ("ab" + "0" * 62)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"half-written pack nobody indexed")
    (repo_path / "data" / "ab" / ".tmp-partial").write_bytes(b"temp")
    report = verify_repository(reopen(repo_path), VerifyOptions(read_data=True))
    assert report.outcome.ok
    assert report.orphan_packs == 1


class RecordingTarget(LocalTarget):
    """A local target that remembers which packs were read whole."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.packs_read: list[str] = []

    def read(self, name: str) -> bytes:
        if name.startswith("data/"):
            self.packs_read.append(name.rsplit("/", 1)[-1])
        return super().read(name)

    def read_range_into(self, name: str, offset: int, out: memoryview) -> None:
        info = self.stat(name)
        if name.startswith("data/") and offset == 0 and info is not None and len(out) == info.size:
            self.packs_read.append(name.rsplit("/", 1)[-1])
        super().read_range_into(name, offset, out)


def test_samples_rotate_through_every_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "VERIFY_PROCESSES", 1)  # threads: the recording target sees every read
    init_repository(LocalTarget(tmp_path / "r"), Credentials(passphrase=PASSPHRASE), pack_size=32 * 1024)
    target = RecordingTarget(tmp_path / "r")
    repo = Repository.open(target, Credentials(passphrase=PASSPHRASE))
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"f{i}").write_bytes(os.urandom(40_000))
    create_snapshot(repo, plain_sources([src]))
    all_packs = set(repo.load_index().pack_sizes)
    assert len(all_packs) >= 8
    cursor = tmp_path / "cursor.json"
    per_run = -(-len(all_packs) // 4)
    covered: set[str] = set()
    for _ in range(4):
        target.packs_read.clear()
        report = verify_repository(repo, VerifyOptions(sample_percent=25, cursor_file=cursor))
        assert report.outcome.ok and report.mode == "sample"
        assert len(target.packs_read) == report.packs_read == per_run
        assert not covered.intersection(target.packs_read) or len(covered) + per_run > len(all_packs)
        covered.update(target.packs_read)
    assert covered == all_packs  # four 25% samples read every pack
