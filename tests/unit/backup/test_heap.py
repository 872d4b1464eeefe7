"""Large freed buffers go back to the system (see clawkeeper.backup.heap)."""

from __future__ import annotations

import platform

import pytest

from clawkeeper.backup import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt(M_MMAP_THRESHOLD) is glibc's")
def test_the_mmap_threshold_is_fixed_once_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_done", False)
    assert heap.settle_large_buffers() is True
    assert heap.settle_large_buffers() is True  # a second call changes nothing


def test_without_mallopt_it_reports_that_nothing_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, _name: object) -> None:
            pass

    monkeypatch.setattr(heap, "_done", False)
    monkeypatch.setattr(heap.ctypes, "CDLL", NoMallopt)
    assert heap.settle_large_buffers() is False
