"""A backup's scan results, spooled to disk and read back in order."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from clawkeeper.backup import spoolfile
from clawkeeper.backup.create import _plan_spool, _Planned, _Stat
from clawkeeper.backup.sources import SourceRoot
from clawkeeper.backup.tree import EntryType


def test_items_come_back_in_order_with_their_lines_and_databases_as_the_same_objects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(spoolfile, "FLUSH_BYTES", 1000)
    roots = [SourceRoot(tmp_path / "a", "state_dir"), SourceRoot(tmp_path / "b", "workspace")]
    spool = _plan_spool(roots)
    given: list[_Planned] = []
    for i in range(3000):
        name = (
            f"/x/caf\u00e9-{i}" if i % 2 else os.fsdecode(b"/x/raw-\xff-" + str(i).encode())
        )  # undecodable bytes too
        kind = (EntryType.FILE, EntryType.DIR, EntryType.SYMLINK)[i % 3]
        st = _Stat(stat.S_IFREG | 0o600, i * 10, -i, i, 2**63 + i, 1000, 1000)
        line = b'{"p":"x"}\n' * (i % 4) or None
        item = _Planned(roots[i % 2], name, name.lstrip("/"), st, kind, i % 500 == 7, None, None, line, i % 9)
        spool.append(item)
        given.append(item)
    assert spool.count == 3000 and spool.databases == [g for g in given if g.sqlite]
    back = list(spool)
    assert back == given
    assert all(b is g for b, g in zip(back, given, strict=True) if g.sqlite)  # databases: the same objects
    spool.close()
