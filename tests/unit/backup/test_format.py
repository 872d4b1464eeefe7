"""The on-disk building blocks: chunk boundaries, packs and index files."""

from __future__ import annotations

import io
import os

import pytest

from clawkeeper.backup.chunker import ChunkerParams, ContentChunker, fixed_chunks
from clawkeeper.backup.crypto import AesGcmCipher, content_name
from clawkeeper.backup.index import IndexedPack, decode_index, encode_index, record_entries
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.packs import (
    TREE_PACK_SIZE,
    BlobFlags,
    BlobKind,
    PackBuilder,
    PackedBlob,
    PackFormatError,
    parse_pack,
)

SMALL = ChunkerParams(min_size=2048, avg_size=8192, max_size=65536)


def chunks_of(data: bytes, seed: int = 7) -> list[bytes]:
    return [bytes(c) for c in ContentChunker(SMALL, seed).buffer(data)]


def test_content_defined_chunks_cover_the_input_exactly() -> None:
    data = os.urandom(300_000)
    pieces = chunks_of(data)
    assert b"".join(pieces) == data
    assert all(len(p) <= SMALL.max_size for p in pieces)
    assert [bytes(c) for c in ContentChunker(SMALL, 7).stream(io.BytesIO(data))] == pieces


def test_an_append_changes_only_the_tail_chunks() -> None:
    data = os.urandom(400_000)
    before = chunks_of(data)
    after = chunks_of(data + b'{"role":"assistant"}\n' * 100)
    shared = set(before) & set(after)
    assert len(shared) >= len(before) - 1


def test_an_insert_in_the_middle_keeps_most_chunks() -> None:
    data = os.urandom(400_000)
    edited = data[:200_000] + b"inserted line\n" + data[200_000:]
    before, after = chunks_of(data), chunks_of(edited)
    assert len(set(before) & set(after)) >= len(before) - 3


def test_the_seed_changes_where_boundaries_fall() -> None:
    data = os.urandom(300_000)
    assert [len(c) for c in chunks_of(data, seed=1)] != [len(c) for c in chunks_of(data, seed=2)]


@pytest.mark.parametrize(
    ("size", "length"), [(4096, 4096 * 10), (4096, 4096 * 10 + 17), (1024, 5000), (4096, 0)]
)
def test_fixed_chunks_are_page_aligned(size: int, length: int) -> None:
    data = os.urandom(length)
    pieces = [bytes(c) for c in fixed_chunks(io.BytesIO(data), size)]
    assert b"".join(pieces) == data
    assert all(len(p) == size for p in pieces[:-1])


def build_pack(cipher: AesGcmCipher, n: int = 5) -> tuple[str, bytes, list[PackedBlob]]:
    builder = PackBuilder(cipher, BlobKind.DATA, target_size=1 << 20)
    for i in range(n):
        payload = os.urandom(1000 + i)
        builder.add(content_name(payload).encode()[:32], payload, len(payload), BlobFlags.NONE)
    data, blobs, _buffer = builder.finish()
    return content_name(data), bytes(data), blobs


def test_a_pack_describes_itself_and_its_name_is_its_hash() -> None:
    cipher = AesGcmCipher(bytes(32))
    pack_id, data, blobs = build_pack(cipher)
    assert pack_id == content_name(data)
    assert parse_pack(data, cipher) == blobs


def test_a_truncated_or_flipped_pack_header_is_reported() -> None:
    cipher = AesGcmCipher(bytes(32))
    _pack_id, data, _blobs = build_pack(cipher)
    with pytest.raises(PackFormatError):
        parse_pack(data[: len(data) // 2], cipher)
    flipped = bytearray(data)
    flipped[-10] ^= 0xFF
    with pytest.raises(PackFormatError):
        parse_pack(bytes(flipped), cipher)


def test_pack_header_needs_the_key() -> None:
    _pack_id, data, _blobs = build_pack(AesGcmCipher(bytes(32)))
    with pytest.raises(PackFormatError):
        parse_pack(data, AesGcmCipher(bytes([9]) * 32))


def test_index_round_trips() -> None:
    cipher = AesGcmCipher(bytes(32))
    pack_id, data, blobs = build_pack(cipher)
    packs = [IndexedPack(pack_id, len(data), tuple(blobs))]
    assert decode_index(encode_index(packs)) == packs


def test_master_index_never_prefers_a_pack_a_prune_has_marked() -> None:
    blob = PackedBlob(b"x" * 32, BlobKind.DATA, BlobFlags.NONE, 0, 10, 10)
    index = MasterIndex(marked=frozenset({"a" * 64}))
    index.add("i1", [IndexedPack("a" * 64, 100, (blob,))])
    assert index.lookup(b"x" * 32) is not None and not index.usable(b"x" * 32)
    index.add("i2", [IndexedPack("b" * 64, 100, (blob,))])
    assert index.usable(b"x" * 32)
    assert index.lookup(b"x" * 32).pack_id == "b" * 64  # type: ignore[union-attr]
    assert {e.pack_id for e in index.locations(b"x" * 32)} == {"a" * 64, "b" * 64}


def test_each_packs_records_list_every_blob_of_the_pack_like_pack_blobs() -> None:
    # verify reads packs from their records; they must name exactly what pack_blobs names,
    # other copies and empty packs included
    shared = PackedBlob(b"s" * 32, BlobKind.DATA, BlobFlags.COMPRESSED, 0, 10, 30)
    tree = PackedBlob(b"t" * 32, BlobKind.TREE, BlobFlags.NONE, 10, 5, 5)
    big = PackedBlob(b"b" * 32, BlobKind.DATA, BlobFlags.NONE, 4_000_000_000, 70_000, 70_000)
    index = MasterIndex(marked=frozenset({"a" * 64}))
    index.add("i1", [IndexedPack("a" * 64, 100, (shared, tree)), IndexedPack("e" * 64, 0, ())])
    index.add("i2", [IndexedPack("b" * 64, 200, (shared, big))])
    records = {pack: index.records_of(pack) for pack, _size in index.iter_packs()}
    assert set(records) == {"a" * 64, "b" * 64, "e" * 64} and index.records_of("f" * 64) == b""
    decoded = {pack: sorted(record_entries(pack, data)) for pack, data in records.items()}
    assert decoded == {pack: sorted(pairs) for pack, pairs in index.pack_blobs().items()}
    assert sorted(e.offset for _b, e in decoded["b" * 64]) == [0, 4_000_000_000]


@pytest.mark.parametrize(
    "path",
    ["home/me/.openclaw/openclaw.json", 'odd "quoted" name', "back\\slash", "ünïcödé/文件.md", "tab\there"],
)
def test_the_quick_tree_reader_agrees_with_the_full_parser(path: str) -> None:
    from clawkeeper.backup.tree import Entry, EntryType, parse_file_entries, parse_lines

    entries = [
        Entry(
            path=path,
            type=EntryType.FILE,
            mode=0o600,
            mtime_ns=7,
            uid=1,
            gid=2,
            size=3,
            chunks=os.urandom(64),
            sig="3:7:7:9",
        ),
        Entry(path=path + "/dir", type=EntryType.DIR, mode=0o700, mtime_ns=8),
        Entry(
            path=path + "/db",
            type=EntryType.FILE,
            mode=0o644,
            mtime_ns=9,
            sqlite={"user_version": 15},
            sig="sqlite|x|-",
        ),
    ]
    stream = b"".join(e.to_line() for e in entries)
    pieces = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    full = [e for e in parse_lines(pieces) if e.type is EntryType.FILE]
    quick = list(parse_file_entries(pieces))
    assert quick == full == [entries[0], entries[2]]


def test_usable_packs_names_the_packs_of_an_id_list_only_when_every_id_is_usable() -> None:
    def blob(byte: bytes) -> PackedBlob:
        return PackedBlob(byte * 32, BlobKind.DATA, BlobFlags.NONE, 0, 10, 10)

    index = MasterIndex(marked=frozenset({"m" * 64}))
    index.add(
        "i", [IndexedPack("a" * 64, 100, (blob(b"x"), blob(b"y"))), IndexedPack("b" * 64, 100, (blob(b"z"),))]
    )
    index.add("j", [IndexedPack("m" * 64, 100, (blob(b"q"),))])
    for ids, packs in [
        (b"x" * 32, {"a" * 64}),
        (b"x" * 32 + b"z" * 32 + b"y" * 32, {"a" * 64, "b" * 64}),
        (b"", set()),
    ]:
        numbers = index.usable_packs(ids)
        assert numbers is not None and index.pack_ids(numbers) == packs == index.packs_of(ids)
    for ids in (b"w" * 32, b"x" * 32 + b"w" * 32, b"q" * 32, b"x" * 32 + b"q" * 32):  # missing, marked
        assert index.usable_packs(ids) is None


def test_a_pack_buffer_never_grows_past_its_capacity_and_list_packs_stay_small() -> None:
    # the writer asks `fits` before each blob and starts a new pack instead of growing the
    # buffer: a backup's memory must not depend on where its large chunks fall
    cipher = AesGcmCipher(b"k" * 32)
    builder = PackBuilder(cipher, BlobKind.DATA, target_size=1 << 20)
    capacity = len(builder._buffer)
    added = 0
    payload = os.urandom(300_000)
    while builder.fits(len(payload)):
        builder.add(os.urandom(32), payload, len(payload), BlobFlags.NONE)
        added += 1
    assert added == 6 and len(builder._buffer) == capacity
    data, blobs, buffer = builder.finish()
    assert len(buffer) == capacity and parse_pack(data, cipher) == blobs
    tree = PackBuilder(cipher, BlobKind.TREE, target_size=16 << 20)
    assert tree.target_size == TREE_PACK_SIZE and len(tree._buffer) == TREE_PACK_SIZE + (1 << 20)
