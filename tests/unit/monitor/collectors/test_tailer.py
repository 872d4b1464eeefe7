"""The incremental JSONL tailer: rotation, truncation, vanishing files, partial lines, bounded reads."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from clawkeeper.monitor.collectors.agent_log import log_paths
from clawkeeper.monitor.collectors.tailer import JsonlTailer, TailPaths


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def lines(result_lines: list[bytes]) -> list[str]:
    return [line.decode() for line in result_lines]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "openclaw.log"


def tailer_for(path: Path, **options: int | bool) -> JsonlTailer:
    return JsonlTailer(lambda: log_paths(path, date(2026, 11, 22)), **options)  # type: ignore[arg-type]


def test_first_poll_starts_at_the_end_and_later_lines_are_read(log: Path) -> None:
    append(log, "old 1\nold 2\n")
    tailer = tailer_for(log)
    assert tailer.poll().lines == []
    append(log, "new 1\nnew 2\n")
    assert lines(tailer.poll().lines) == ["new 1", "new 2"]
    assert tailer.poll().lines == []


def test_a_log_that_appears_after_the_first_poll_is_read_from_its_first_line(log: Path) -> None:
    tailer = tailer_for(log)
    assert tailer.poll().lines == []  # the gateway has not started yet
    append(log, "first\n")
    result = tailer.poll()
    assert lines(result.lines) == ["first"]
    assert result.new_files == 1


def test_a_partial_last_line_waits_for_its_newline(log: Path) -> None:
    append(log, "")
    tailer = tailer_for(log)
    tailer.poll()
    append(log, '{"a": 1}\n{"b": ')
    assert lines(tailer.poll().lines) == ['{"a": 1}']
    assert tailer.poll().lines == []
    append(log, "2}\n")
    assert lines(tailer.poll().lines) == ['{"b": 2}']


def test_windows_line_endings_and_blank_lines_are_cleaned(log: Path) -> None:
    append(log, "")
    tailer = tailer_for(log)
    tailer.poll()
    append(log, "one\r\n\n\ntwo\n")
    assert lines(tailer.poll().lines) == ["one", "two"]


def test_size_rotation_finishes_the_old_file_then_reads_the_new_one_in_order(log: Path) -> None:
    append(log, "before\n")
    tailer = tailer_for(log)
    tailer.poll()
    append(log, "last of old 1\nlast of old 2\n")
    # OpenClaw's rotation: openclaw.log -> openclaw.1.log, then a fresh openclaw.log
    log.rename(log.with_name("openclaw.1.log"))
    append(log, "first of new\n")
    result = tailer.poll()
    assert lines(result.lines) == ["last of old 1", "last of old 2", "first of new"]
    assert result.new_files == 1


def test_a_writer_that_still_appends_to_the_renamed_file_is_followed(log: Path) -> None:
    append(log, "x\n")
    tailer = tailer_for(log)
    tailer.poll()
    rotated = log.with_name("openclaw.1.log")
    log.rename(rotated)
    append(rotated, "late write to the old inode\n")
    assert lines(tailer.poll().lines) == ["late write to the old inode"]


def test_a_truncated_file_is_read_again_from_the_start(log: Path) -> None:
    append(log, "a long first generation of the log\n")
    tailer = tailer_for(log)
    tailer.poll()
    log.write_text("short\n")  # truncated in place (same inode), shorter than our offset
    result = tailer.poll()
    assert lines(result.lines) == ["short"]
    assert result.truncated == 1


def test_a_vanished_file_is_forgotten_and_a_new_one_at_its_path_is_read_from_0(log: Path) -> None:
    append(log, "x\n")
    tailer = tailer_for(log)
    tailer.poll()
    log.unlink()
    result = tailer.poll()
    assert result.vanished == 1
    assert tailer.tracked == {}
    append(log, "reborn\n")
    assert lines(tailer.poll().lines) == ["reborn"]


def test_an_old_rotated_file_nobody_was_reading_is_history(log: Path) -> None:
    log.with_name("openclaw.3.log").write_text("ancient\n")
    tailer = tailer_for(log)
    tailer.poll()
    append(log.with_name("openclaw.3.log"), "still ancient\n")
    assert tailer.poll().lines == []


def test_a_new_dated_file_at_midnight_is_read_whole_and_yesterdays_is_finished(tmp_path: Path) -> None:
    yesterday = tmp_path / "openclaw-2026-11-21.log"
    today = tmp_path / "openclaw-2026-11-22.log"
    day = {"value": date(2026, 11, 21)}
    tailer = JsonlTailer(lambda: log_paths(tmp_path / f"openclaw-{day['value']}.log", day["value"]))
    append(yesterday, "before start\n")
    tailer.poll()
    append(yesterday, "23:59:59\n")
    day["value"] = date(2026, 11, 22)
    append(today, "00:00:01\n")
    assert lines(tailer.poll().lines) == ["23:59:59", "00:00:01"]
    os.utime(yesterday, (0, 0))  # OpenClaw prunes dated files after 24 h
    yesterday.unlink()
    assert tailer.poll().vanished == 1


def test_reads_are_bounded_per_poll_and_the_backlog_follows_in_order(log: Path) -> None:
    append(log, "")
    tailer = tailer_for(log, max_bytes=1000)
    tailer.poll()
    expected = [f"line {i:04d} " + "x" * 40 for i in range(200)]  # ~10 kB
    append(log, "".join(f"{line}\n" for line in expected))
    seen: list[str] = []
    for _ in range(20):
        result = tailer.poll()
        assert result.bytes_read <= 1000
        seen += lines(result.lines)
        if not result.backlog and not result.lines:
            break
    assert seen == expected


def test_the_budget_is_shared_and_the_old_file_goes_first(log: Path) -> None:
    append(log, "")
    tailer = tailer_for(log, max_bytes=64)
    tailer.poll()
    append(log, "".join(f"old {i}\n" for i in range(20)))
    log.rename(log.with_name("openclaw.1.log"))
    append(log, "new 0\n")
    first = tailer.poll()
    assert first.backlog
    assert lines(first.lines)[0] == "old 0"
    seen = lines(first.lines)
    for _ in range(10):
        seen += lines(tailer.poll().lines)
    assert seen == [f"old {i}" for i in range(20)] + ["new 0"]


def test_an_overlong_line_is_dropped_and_counted_without_losing_the_next(log: Path) -> None:
    append(log, "")
    tailer = tailer_for(log, max_line_bytes=100)
    tailer.poll()
    append(log, "y" * 250)  # no newline yet: more than a line may hold
    result = tailer.poll()
    assert result.lines == []
    assert result.dropped_lines == 1
    append(log, "y" * 50 + "\nnext\n")
    assert lines(tailer.poll().lines) == ["next"]


def test_a_file_replaced_by_another_at_the_same_path_starts_over(log: Path) -> None:
    append(log, "first generation\n")
    tailer = tailer_for(log)
    tailer.poll()
    replacement = log.with_name("tmp")
    replacement.write_text("second generation\n")
    replacement.replace(log)  # new inode under the same name (an atomic rewrite)
    assert lines(tailer.poll().lines) == ["second generation"]


def test_start_at_end_can_be_turned_off(log: Path) -> None:
    append(log, "history\n")
    tailer = JsonlTailer(lambda: TailPaths(active=[log]), start_at_end=False)
    assert lines(tailer.poll().lines) == ["history"]
