"""Restore and verify without fresh buffers: decrypting, decompressing and reading into reused
buffers, and writing large files past the page cache (direct I/O) in whole aligned blocks."""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard

from clawkeeper.backup import direct_io, restore_files
from clawkeeper.backup.blobstream import Wanted, open_batch
from clawkeeper.backup.buffers import RESERVED, Buffers
from clawkeeper.backup.compress import decompress_into
from clawkeeper.backup.create import create_snapshot
from clawkeeper.backup.crypto import AesGcmCipher, AuthenticationFailed, PlainCipher
from clawkeeper.backup.packs import BlobFlags, pack_object_name
from clawkeeper.backup.repository import BlobCorrupt, Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import plain_sources
from clawkeeper.backup.targets import LocalTarget
from clawkeeper.backup.targets.base import ObjectMissing
from clawkeeper.backup.tree import split_ids
from clawkeeper.backup.verify import VerifyOptions, verify_repository

BLOCK = direct_io.BLOCK


def test_both_ciphers_open_into_a_callers_buffer_and_aes_still_refuses_tampering() -> None:
    out = memoryview(bytearray(64))
    for cipher in (AesGcmCipher(bytes(range(32))), PlainCipher()):
        sealed = cipher.seal(b"agent memory", b"id")
        assert cipher.open_into(sealed, b"id", out) == 12
        assert bytes(out[:12]) == b"agent memory"
    aes = AesGcmCipher(bytes(32))
    with pytest.raises(AuthenticationFailed):
        aes.open_into(aes.seal(b"data", b"id-one"), b"id-two", out)


def test_decompress_into_fills_exactly_the_length_and_refuses_frames_of_another_length() -> None:
    raw = b"a transcript line\n" * 10_000
    frame = zstandard.ZstdCompressor(level=3, write_content_size=True).compress(raw)
    out = memoryview(bytearray(len(raw) + 100))
    assert decompress_into(frame, len(raw), out) == len(raw)
    assert bytes(out[: len(raw)]) == raw
    with pytest.raises(zstandard.ZstdError):
        decompress_into(frame, len(raw) - 1, out)  # the index says less than the frame holds
    with pytest.raises(zstandard.ZstdError):
        decompress_into(frame, len(raw) + 1, out)  # or more
    with pytest.raises(zstandard.ZstdError):
        decompress_into(frame[: len(frame) // 2], len(raw), out)  # a cut frame


def test_buffers_are_reused_grow_when_needed_and_never_pulls_a_buffer_from_under_a_view() -> None:
    buffers = Buffers()
    small = buffers.view("plain", 10)
    small[:5] = b"hello"
    assert buffers.view("plain", RESERVED).obj is small.obj  # room was reserved up front
    assert buffers.view("stage", 10).obj is not small.obj  # each purpose has its own
    bigger = buffers.view("plain", RESERVED + 1)
    assert len(bigger) == RESERVED + 1 and bigger.obj is not small.obj
    assert bytes(small[:5]) == b"hello"  # the old view still reads its own buffer
    assert buffers.view("plain", 3).obj is bigger.obj


def test_a_local_pack_range_reads_into_a_buffer_and_a_short_pack_is_missing_data(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "repo")
    target.write("data/ab/abcd", bytes(range(256)) * 4)
    out = memoryview(bytearray(100))
    target.read_range_into("data/ab/abcd", 1000, out[:24])
    assert bytes(out[:24]) == (bytes(range(256)) * 4)[1000:1024]
    with pytest.raises(ObjectMissing, match="shorter"):
        target.read_range_into("data/ab/abcd", 1000, out)


def test_batches_opened_into_kept_buffers_equal_batches_opened_into_fresh_buffers(
    repo: Repository, tmp_path: Path
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "long.jsonl").write_text('{"role": "user", "text": "hello"}\n' * 20_000)  # big, compressed
    (source / "short.md").write_text("a short note\n" * 20)  # small, compressed
    (source / "model.bin").write_bytes(os.urandom(300_000))  # stored raw
    snap = create_snapshot(repo, plain_sources([source])).snapshot
    wanted = [
        Wanted(blob_id, entry.path, repo.index.lookup(blob_id))
        for entry in iter_tree(repo, load_snapshot(repo, snap.id), files_only=True)
        for blob_id in split_ids(entry.chunks)
    ]
    flags = {w.entry.flags for w in wanted if w.entry is not None}
    assert flags == {BlobFlags.COMPRESSED, BlobFlags.NONE}
    fresh = [bytes(b) for b in open_batch(repo, wanted)]
    buffers = Buffers()
    for _ in range(2):  # the second time through, every buffer is reused
        assert [bytes(b) for b in open_batch(repo, wanted, rehash=True, buffers=buffers)] == fresh
    assert b"".join(fresh[-len(wanted) :]).count(b"hello") >= 20_000


class _Writes:
    """Every pwritev of a test: descriptor, offset, length and whether the memory was aligned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, refuse_fd: int | None = None) -> None:
        self.calls: list[tuple[int, int, int, bool]] = []
        real = os.pwritev

        def spy(fd: int, buffers: list[Any], offset: int) -> int:
            view = memoryview(buffers[0])
            address = ctypes.addressof(ctypes.c_char.from_buffer(view)) if not view.readonly else 1
            self.calls.append((fd, offset, sum(len(b) for b in buffers), address % BLOCK == 0))
            if fd == refuse_fd:
                raise OSError(errno.EINVAL, "Invalid argument")
            return real(fd, buffers, offset)

        monkeypatch.setattr(direct_io.os, "pwritev", spy)


@pytest.mark.parametrize(
    ("offset", "sizes"),
    [
        (0, [3 * BLOCK]),  # aligned both ends: all direct
        (100, [BLOCK, 5000, 7]),  # a head, whole blocks, a tail
        (BLOCK - 1, [2, BLOCK * 3]),  # a one-byte head
        (10, [20]),  # inside one block: all buffered
        (BLOCK - 10, [20]),  # across a boundary, no whole block
    ],
)
def test_a_run_goes_direct_in_whole_aligned_blocks_and_buffered_at_the_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offset: int, sizes: list[int]
) -> None:
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    direct = os.open(path, os.O_WRONLY)  # stands in for the O_DIRECT descriptor
    buffers = [os.urandom(n) for n in sizes]
    writes = _Writes(monkeypatch)
    try:
        assert direct_io.write_run(fd, direct, buffers, offset) == sum(sizes)
    finally:
        os.close(fd)
        os.close(direct)
    assert path.read_bytes()[offset:] == b"".join(buffers)
    covered = sorted((o, o + n) for _fd, o, n, _aligned in writes.calls)
    assert covered[0][0] == offset and covered[-1][1] == offset + sum(sizes)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # no gap, no overlap
    for call_fd, start, length, aligned in writes.calls:
        if call_fd == direct:
            assert start % BLOCK == 0 and length % BLOCK == 0 and aligned
        else:
            assert length < BLOCK  # only partial blocks go the ordinary way


def test_a_filesystem_refusing_direct_writes_gets_the_run_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    direct = os.open(path, os.O_WRONLY)
    data = os.urandom(direct_io.MIN_RUN * 2 + 123)
    _Writes(monkeypatch, refuse_fd=direct)
    opened = restore_files.OpenFile(entry=None, fd=fd, direct=direct)  # type: ignore[arg-type]
    try:
        assert restore_files._write_run(opened, [data[:1000], data[1000:]], 5) == len(data)
        assert opened.direct_refused  # the rest of this file will not try again
        assert restore_files._write_run(opened, [data], 5 + len(data)) == len(data)
    finally:
        opened.close_direct()
        os.close(fd)
    assert path.read_bytes()[5:] == data + data


@pytest.fixture
def direct_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The offsets of the runs written through `direct_io.write_run`."""
    runs: list[int] = []
    real = direct_io.write_run

    def counted(fd: int, direct: int, buffers: Any, offset: int) -> int:
        runs.append(offset)
        return real(fd, direct, buffers, offset)

    monkeypatch.setattr(direct_io, "write_run", counted)
    return runs


def _direct_io_works(path: Path) -> bool:
    """Whether the filesystem holding `path` takes direct I/O (the tests' temporary folder may not)."""
    probe = os.open(path, os.O_RDONLY)
    try:
        direct = direct_io.reopen_direct(probe)
    finally:
        os.close(probe)
    if direct is None:
        return False
    os.close(direct)
    return True


def test_large_files_restore_byte_for_byte_through_direct_io_and_verify_reads_them_back(
    repo: Repository, tmp_path: Path, direct_runs: list[int]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.gguf").write_bytes(os.urandom(5 * 1024 * 1024 + 777))  # several chunks, odd size
    (source / "notes.md").write_text("small stays buffered\n" * 100)
    snap = create_snapshot(repo, plain_sources([source])).snapshot.id
    restore_snapshot(repo, snap, RestoreOptions(target=tmp_path / "out"))
    back = tmp_path / "out" / str(source).lstrip("/")
    for name in ("model.gguf", "notes.md"):
        assert (back / name).read_bytes() == (source / name).read_bytes()
    if _direct_io_works(back / "notes.md"):
        assert direct_runs  # the model went past the page cache
    else:  # a filesystem without direct I/O: everything went buffered, still whole
        assert direct_runs == []
    report = verify_repository(repo, VerifyOptions(read_data=True))
    assert report.problems == [] and report.packs_read >= 1


def test_an_in_place_restore_writes_large_files_directly_and_leaves_nothing_when_one_is_damaged(
    repo: Repository, tmp_path: Path, direct_runs: list[int]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    model = os.urandom(6 * 1024 * 1024 + 5)
    (source / "model.gguf").write_bytes(model)
    (source / "notes.md").write_text("as in the snapshot\n")
    sources = plain_sources([source])
    snap = create_snapshot(repo, sources).snapshot.id
    (source / "model.gguf").write_bytes(b"overwritten since")
    (source / "notes.md").write_text("changed\n")
    restore_snapshot(repo, snap, RestoreOptions(in_place=True, safety_sources=sources))
    assert (source / "model.gguf").read_bytes() == model
    assert (source / "notes.md").read_text() == "as in the snapshot\n"
    assert not [p for p in source.iterdir() if p.name.startswith(".clawkeeper-restore-")]
    assert bool(direct_runs) == _direct_io_works(source / "notes.md")

    # a damaged chunk of the model: nothing is replaced, no temporary is left
    entry = next(e for e in iter_tree(repo, load_snapshot(repo, snap)) if e.path.endswith("model.gguf"))
    located = repo.index.lookup(split_ids(entry.chunks)[-1])
    assert located is not None
    pack = Path(repo.target.root) / pack_object_name(located.pack_id)  # type: ignore[attr-defined]
    data = bytearray(pack.read_bytes())
    data[located.offset + located.length // 2] ^= 0xFF
    pack.write_bytes(bytes(data))
    (source / "model.gguf").write_bytes(b"overwritten again")
    with pytest.raises(BlobCorrupt, match=r"model\.gguf"):
        restore_snapshot(repo, snap, RestoreOptions(in_place=True, safety_sources=sources))
    assert (source / "model.gguf").read_bytes() == b"overwritten again"
    assert not [p for p in source.iterdir() if p.name.startswith(".clawkeeper-restore-")]
