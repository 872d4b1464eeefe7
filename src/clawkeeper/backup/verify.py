"""Verification in tiers: structure, full read-back, or a rotating sample of the packs.

- Structure (always): every index file and snapshot opens and authenticates, every pack an index
  names exists with the recorded size, every blob a snapshot names is indexed.
- `read_data`: every pack is read back; its name must equal the BLAKE3 of its bytes, its own
  header must agree with the index, and every blob must decrypt, decompress and hash to its id.
- `sample_percent`: the same for a slice of the packs; the slice starts where the previous sample
  stopped (a cursor file), so N% samples cover the repository every 100/N runs.

Damage is reported three ways, because each answers a different question: which pack is bad
(what to repair or delete), which files of which snapshots are affected (what is lost), and which
snapshots restore completely (what is still good).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from clawkeeper.backup import forked
from clawkeeper.backup.buffers import Buffers, thread_buffers
from clawkeeper.backup.crypto import ID_SIZE
from clawkeeper.backup.index import record_entries
from clawkeeper.backup.index_store import MasterIndex
from clawkeeper.backup.marks import load_marks
from clawkeeper.backup.packs import PackFormatError, pack_id_from_name, pack_object_name, parse_pack
from clawkeeper.backup.progress import ProgressCallback, Reporter
from clawkeeper.backup.repository import BlobCorrupt, Repository, opening_room
from clawkeeper.backup.snapshots import Snapshot, content_slices, iter_tree, load_snapshot
from clawkeeper.backup.targets.base import BackupTarget, ObjectMissing, TargetError
from clawkeeper.backup.tree import Entry, TreeFormatError
from clawkeeper.effects.fs import atomic_write_json
from clawkeeper.errors import ClawkeeperError
from clawkeeper.outcomes import Outcome

VERIFY_THREADS = 3  # remote repositories: reads overlap network latency
VERIFY_PROCESSES = min(os.cpu_count() or 1, 8)  # local repositories: forked workers, one per core
CHECK_SLICE = 4096 * ID_SIZE  # chunk ids of one file checked per index query


@dataclass(frozen=True)
class VerifyOptions:
    read_data: bool = False
    sample_percent: float | None = None  # read back this share of the packs (rotating)
    cursor_file: Path | None = None  # where the rotation remembers its position


@dataclass(frozen=True)
class Problem:
    kind: str  # config, index, pack, blob, snapshot, mark
    name: str  # the object concerned (short id)
    message: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "message": self.message}


@dataclass
class VerifyReport:
    mode: str  # "structure", "read-data", "sample"
    snapshots: int = 0
    index_files: int = 0
    packs: int = 0
    blobs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    orphan_packs: int = 0  # written by an interrupted backup; prune collects them
    problems: list[Problem] = field(default_factory=list)
    damaged_packs: dict[str, str] = field(default_factory=dict)  # pack id -> reason
    damaged_files: list[dict[str, str]] = field(default_factory=list)  # snapshot, path, reason
    damaged_snapshots: list[str] = field(default_factory=list)
    intact_snapshots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.problems:
            return Outcome.failed(f"{len(self.problems)} problem(s): {self.problems[0].message}")
        return Outcome.passed(f"{self.mode} check of {self.snapshots} snapshot(s), {self.packs} pack(s)")

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "outcome": self.outcome.to_json(),
            "snapshots": self.snapshots,
            "index_files": self.index_files,
            "packs": self.packs,
            "blobs": self.blobs,
            "packs_read": self.packs_read,
            "bytes_read": self.bytes_read,
            "orphan_packs": self.orphan_packs,
            "problems": [p.to_json() for p in self.problems],
            "damaged_packs": self.damaged_packs,
            "damaged_files": self.damaged_files,
            "damaged_snapshots": self.damaged_snapshots,
            "intact_snapshots": self.intact_snapshots,
            "notes": self.notes,
        }


class _Verifier:
    def __init__(self, repo: Repository, options: VerifyOptions, progress: ProgressCallback | None) -> None:
        self.repo = repo
        self.options = options
        self.progress = progress
        mode = "structure"
        if options.sample_percent is not None:
            mode = "sample"
        elif options.read_data:
            mode = "read-data"
        self.report = VerifyReport(mode=mode)
        self.bad_blobs: dict[bytes, str] = {}
        self.pack_hash_threads = blake3.blake3.AUTO  # 1 in forked workers: they fill the cores already

    def problem(self, kind: str, name: str, message: str) -> None:
        self.report.problems.append(Problem(kind, name, message))

    def run(self) -> VerifyReport:
        index = self._load_index()
        listed = {pack_id_from_name(info.name): info.size for info in self.repo.target.list("data")}
        self._check_packs_exist(index, listed)
        walked: VerifyReport | None = None
        if self.options.read_data or self.options.sample_percent is not None:
            walked = self._read_packs(index, self._packs_to_read(index))
        unreadable_marks: list[str] = []
        load_marks(self.repo, unreadable_marks)
        for mark_id in unreadable_marks:
            self.report.notes.append(f"prune mark {mark_id[:8]} does not read; a prune will discard it")
        if walked is not None and not self.bad_blobs:
            self._adopt_walk(walked)
        else:  # not walked yet, or walked before the packs showed damaged blobs: walk (again)
            self._check_snapshots(index)
        return self.report

    def _load_index(self) -> MasterIndex:
        def on_error(name: str, exc: Exception) -> None:
            self.problem("index", name[:12], f"index file {name[:12]} is unreadable: {_message(exc)}")

        index = self.repo.load_index(on_error=on_error)
        self.report.index_files = len(index.index_files)
        self.report.packs = len(index.pack_sizes)
        self.report.blobs = len(index)
        return index

    def _damage_pack(self, pack_id: str, reason: str) -> None:
        if pack_id not in self.report.damaged_packs:
            self.report.damaged_packs[pack_id] = reason
            self.problem("pack", pack_id[:12], f"pack {pack_id[:12]}: {reason}")

    def _check_packs_exist(self, index: MasterIndex, listed: dict[str, int]) -> None:
        for pack_id, size in index.iter_packs():
            actual = listed.get(pack_id)
            if actual is None:
                self._damage_pack(pack_id, "missing from the repository")
            elif actual != size:
                self._damage_pack(pack_id, f"is {actual} bytes, the index says {size} (truncated?)")
        self.report.orphan_packs = sum(1 for p in listed if p not in index.pack_sizes)
        if self.report.orphan_packs:
            self.report.notes.append(
                f"{self.report.orphan_packs} pack(s) are not indexed (left by an interrupted backup); "
                "`backup prune` removes them"
            )
        if self.report.damaged_packs:
            for pack_id, reason in self.report.damaged_packs.items():
                for blob_id, _entry in record_entries(pack_id, index.records_of(pack_id)):
                    self.bad_blobs.setdefault(blob_id, f"pack {pack_id[:12]} {reason}")

    def _packs_to_read(self, index: MasterIndex) -> list[str]:
        packs = sorted(p for p in index.pack_sizes if p not in self.report.damaged_packs)
        percent = self.options.sample_percent
        if percent is None:
            return packs
        if not 0 < percent <= 100:
            raise ValueError("sample percent must be in (0, 100]")
        count = max(1, math.ceil(len(packs) * percent / 100)) if packs else 0
        cursor_file = self.options.cursor_file
        if cursor_file is None:
            return sorted(random.sample(packs, count))
        start = 0
        last = _read_cursor(cursor_file, self.repo.config.repo_id)
        if last is not None:
            start = next((i for i, p in enumerate(packs) if p > last), 0)
        chosen = [packs[(start + i) % len(packs)] for i in range(count)]
        if chosen:
            atomic_write_json(cursor_file, {"repository": self.repo.config.repo_id, "last_pack": chosen[-1]})
        self.report.notes.append(f"sample: {count} of {len(packs)} packs, continuing the rotation")
        return chosen

    def _read_packs(self, index: MasterIndex, packs: list[str]) -> VerifyReport | None:
        """Read `packs` back. With forked workers, the snapshots are walked meanwhile (returned)."""
        total = sum(index.pack_sizes[p] for p in packs)
        reporter = Reporter(self.progress, "verify", total_bytes=total, total_items=len(packs))
        walked: VerifyReport | None = None
        with contextlib.ExitStack() as stack:
            if forked.usable(self.repo.target, VERIFY_PROCESSES) and len(packs) > 1:
                # processes check the packs while this one walks the snapshots' file lists
                self.pack_hash_threads = 1
                executor = stack.enter_context(forked.pool(VERIFY_PROCESSES, (self, index)))
                checks: Iterator[_PackCheck] = executor.map(_check_pack_forked, packs)
                walked = self._walk_aside(index)
            else:
                # threads: reading, BLAKE3, AES-GCM and zstd release the GIL
                threads = stack.enter_context(
                    ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="verify")
                )
                checks = threads.map(lambda p: self._check_pack(p, index.records_of(p)), packs)
            # results come back in order and are recorded here, in this process, on one thread
            for pack_id, check in zip(packs, checks, strict=True):
                if check.unreadable is not None:
                    self._damage_pack(pack_id, f"cannot be read: {check.unreadable}")
                    for blob_id, _entry in record_entries(pack_id, index.records_of(pack_id)):
                        self.bad_blobs.setdefault(blob_id, f"pack {pack_id[:12]} unreadable")
                    continue
                self.report.packs_read += 1
                self.report.bytes_read += check.size
                for reason in check.pack_problems:
                    self._damage_pack(pack_id, reason)
                for blob_id, reason in check.bad_blobs:
                    self._bad_blob(blob_id, pack_id, reason)
                reporter.advance(check.size, 1, current=pack_id[:12])
        reporter.finish()
        return walked

    def _walk_aside(self, index: MasterIndex) -> VerifyReport:
        """`_check_snapshots` into a report of its own (adopted if the packs turn out intact)."""
        own = self.report
        self.report = VerifyReport(mode=own.mode)
        try:
            self._check_snapshots(index)
            return self.report
        finally:
            self.report = own

    def _adopt_walk(self, walked: VerifyReport) -> None:
        self.report.snapshots += walked.snapshots
        self.report.problems.extend(walked.problems)
        self.report.damaged_files.extend(walked.damaged_files)
        self.report.damaged_snapshots.extend(walked.damaged_snapshots)
        self.report.intact_snapshots.extend(walked.intact_snapshots)

    def _check_pack(self, pack_id: str, records: bytes) -> _PackCheck:
        """Read one pack back and check everything in it (the index's `records` of the pack).
        Touches no shared state."""
        check = _PackCheck()
        indexed = record_entries(pack_id, records)
        buffers = thread_buffers()
        try:
            data = _read_pack(self.repo.target, pack_object_name(pack_id), buffers)
        except (ObjectMissing, TargetError) as exc:
            check.unreadable = _message(exc)
            return check
        check.size = len(data)
        if blake3.blake3(data, max_threads=self.pack_hash_threads).hexdigest() != pack_id:
            check.pack_problems.append("content does not match its name (bytes changed)")
        try:
            header = parse_pack(data, self.repo.cipher)
        except PackFormatError as exc:
            check.pack_problems.append(f"header unreadable: {exc}")
        else:
            own = {(b.blob_id, b.offset, b.length) for b in header}
            if any((blob_id, e.offset, e.length) not in own for blob_id, e in indexed):
                check.pack_problems.append("its header disagrees with the index")
        view = memoryview(data)
        for blob_id, entry in indexed:
            end = entry.offset + entry.length
            if end > len(data):
                check.bad_blobs.append((blob_id, "lies beyond the end of the pack"))
                continue
            try:
                out = buffers.view("plain", opening_room(entry))
                self.repo.open_blob_into(blob_id, entry, view[entry.offset : end], out)
            except BlobCorrupt as exc:
                check.bad_blobs.append((blob_id, exc.message))
        return check

    def _bad_blob(self, blob_id: bytes, pack_id: str, reason: str) -> None:
        self.bad_blobs.setdefault(blob_id, reason)
        self._damage_pack(pack_id, "holds damaged blobs")

    def _check_snapshots(self, index: MasterIndex) -> None:
        ids = self.repo.list_ids("snapshots")
        reporter = Reporter(self.progress, "verify snapshots", total_items=len(ids))
        clean: set[bytes] = set()
        for snapshot_id in ids:
            short = snapshot_id[:8]
            self.report.snapshots += 1
            try:
                snapshot = load_snapshot(self.repo, snapshot_id)
            except ClawkeeperError as exc:
                self.problem("snapshot", short, f"snapshot {short} is unreadable: {exc.message}")
                self.report.damaged_snapshots.append(snapshot_id)
                continue
            damaged = False
            for tree_id in snapshot.tree:
                reason = self._blob_problem(index, tree_id)
                if reason:
                    self.problem("snapshot", short, f"snapshot {short}: its file list is damaged ({reason})")
                    damaged = True
            if not damaged:
                damaged = self._check_tree(index, snapshot, short, clean)
            (self.report.damaged_snapshots if damaged else self.report.intact_snapshots).append(snapshot_id)
            reporter.advance(items=1, current=short)
        reporter.finish()

    def _check_tree(self, index: MasterIndex, snapshot: Snapshot, short: str, clean: set[bytes]) -> bool:
        """Check every file's chunks; `clean` holds digests of the chunk lists already found whole
        in this walk (snapshots share most files, so most are checked once)."""
        damaged = False
        try:
            for entry in iter_tree(self.repo, snapshot, files_only=True):
                digest = blake3.blake3(entry.chunks + entry.chunk_lists).digest(length=16)
                if digest in clean:
                    continue
                reason = self._content_problem(index, entry)
                if reason:
                    damaged = True
                    where = {"snapshot": short, "path": entry.path, "reason": reason}
                    self.report.damaged_files.append(where)
                    self.problem("snapshot", short, f"snapshot {short}: /{entry.path} is damaged ({reason})")
                else:
                    clean.add(digest)
        except (BlobCorrupt, TreeFormatError) as exc:
            self.problem("snapshot", short, f"snapshot {short}: its file list is unreadable: {_message(exc)}")
            return True
        return damaged

    def _content_problem(self, index: MasterIndex, entry: Entry) -> str | None:
        """Why a file's content cannot be restored (None: it can): its list blobs, if it has
        any, then its chunks, a slice at a time with one index query per slice."""
        reason = self._ids_problem(index, entry.chunk_lists)
        if reason:
            return f"its chunk list: {reason}"
        try:
            for ids in content_slices(self.repo, entry):
                reason = self._ids_problem(index, ids)
                if reason:
                    return reason
        except BlobCorrupt as exc:
            return f"its chunk list: {exc.message}"
        return None

    def _ids_problem(self, index: MasterIndex, ids: bytes) -> str | None:
        for start in range(0, len(ids), CHECK_SLICE):
            part = ids[start : start + CHECK_SLICE]
            if self.bad_blobs:
                for at in range(0, len(part), ID_SIZE):
                    reason = self._blob_problem(index, part[at : at + ID_SIZE])
                    if reason:
                        return reason
            missing = index.missing(part)
            if missing:
                return f"chunk {missing[0].hex()[:12]} is not in any index"
        return None

    def _blob_problem(self, index: MasterIndex, blob_id: bytes) -> str | None:
        if blob_id in self.bad_blobs:
            # a good copy elsewhere (a repack, a concurrent backup) still restores the blob
            good = [e for e in index.locations(blob_id) if e.pack_id not in self.report.damaged_packs]
            return None if good else self.bad_blobs[blob_id]
        if blob_id not in index:
            return f"chunk {blob_id.hex()[:12]} is not in any index"
        return None


@dataclass
class _PackCheck:
    size: int = 0
    unreadable: str | None = None
    pack_problems: list[str] = field(default_factory=list)
    bad_blobs: list[tuple[bytes, str]] = field(default_factory=list)


def _read_pack(target: BackupTarget, name: str, buffers: Buffers) -> bytes | memoryview:
    """A whole pack, into this thread's buffers where the target can (a fresh 17 MiB buffer per
    pack costs the kernel a page fault every 4 KiB)."""
    read_into = getattr(target, "read_range_into", None)
    info = target.stat(name) if read_into is not None else None
    if read_into is None or info is None:
        return target.read(name)
    data = buffers.view("pack", info.size)
    read_into(name, 0, data)
    return data


def _check_pack_forked(pack_id: str) -> _PackCheck:
    """`_Verifier._check_pack` in a forked worker, on the parent's verifier and pack map."""
    verifier, index = forked.state()
    assert isinstance(verifier, _Verifier)  # noqa: S101 - set by _read_packs before the fork
    return verifier._check_pack(pack_id, index.records_of(pack_id))


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, ClawkeeperError) else str(exc)


def _read_cursor(path: Path, repo_id: str) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (
        isinstance(data, dict)
        and data.get("repository") == repo_id
        and isinstance(data.get("last_pack"), str)
    ):
        return str(data["last_pack"])
    return None


def verify_repository(
    repo: Repository, options: VerifyOptions | None = None, progress: ProgressCallback | None = None
) -> VerifyReport:
    return _Verifier(repo, options or VerifyOptions(), progress).run()
