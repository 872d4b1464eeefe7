"""Writing restored content past the page cache (O_DIRECT), where the filesystem allows it.

A buffered write copies every byte into a page of the page cache that the kernel first has to
find, charge and, on a virtual machine, often have the host back with real memory: measured on
this project's machines, ~2 s of kernel time per GB written to fresh pages, most of a restore's
cost. A direct write hands the bytes to the disk from the caller's buffer (~0.05 s per GB of CPU
time there), and leaves the page cache, which holds the running agent's own files, alone.

Direct I/O wants whole, aligned blocks: the offset, the length and the buffer's address all
multiples of `BLOCK`. `write_run` copies a run of chunks into an aligned staging buffer (one per
thread, reused), writes the whole blocks through the direct descriptor and the partial blocks
at either end through the ordinary one. A block is thus only ever written one way, so the two
paths never race over the same page. Files below `MIN_FILE` and runs below `MIN_RUN` stay
buffered: a direct write waits for the disk, which costs more than it saves on small pieces.

Where a filesystem refuses direct I/O (tmpfs before Linux 6.6, some FUSE filesystems), at open
or at the first write, the file quietly goes on buffered.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from clawkeeper.backup.buffers import thread_buffers

BLOCK = 4096  # the largest logical block size in common use; a multiple of every smaller one
MIN_FILE = 1024 * 1024
MIN_RUN = 256 * 1024


def reopen_direct(fd: int) -> int | None:
    """A second descriptor on the same open file, for direct writes; None where the platform or
    the filesystem has no direct I/O. Opened through /proc/self/fd, so it is the very file `fd`
    created, whatever happened to its name since."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | flag | os.O_CLOEXEC)
    except OSError:
        return None


def write_run(fd: int, direct_fd: int, buffers: Sequence[bytes | memoryview], offset: int) -> int:
    """Write `buffers` back to back at `offset`: whole blocks through `direct_fd`, the partial
    blocks at the ends through `fd`. Returns the bytes written. Raises `DirectRefused` when the
    filesystem turns the direct write down; the caller then writes the whole run again the
    ordinary way (writing the same bytes twice is harmless)."""
    total = sum(len(b) for b in buffers)
    end = offset + total
    first = -(-offset // BLOCK) * BLOCK  # the first whole block
    last = end // BLOCK * BLOCK  # where the whole blocks stop
    base = offset - offset % BLOCK
    stage = thread_buffers().view("stage", end - base)  # page-aligned
    position = offset - base
    for data in buffers:
        stage[position : position + len(data)] = data
        position += len(data)
    if last > first:
        try:
            written = pwritev_all(direct_fd, [stage[first - base : last - base]], first)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise DirectRefused(str(exc)) from exc
            raise
    else:
        first = last = end  # no whole block: all of it goes the ordinary way
        written = 0
    if first > offset:
        written += pwritev_all(fd, [stage[offset - base : first - base]], offset)
    if end > last:
        written += pwritev_all(fd, [stage[last - base : end - base]], last)
    return written


class DirectRefused(Exception):
    """The filesystem accepted O_DIRECT at open but refused the write itself."""


def pwritev_all(fd: int, buffers: Sequence[bytes | memoryview], offset: int) -> int:
    """Write all of `buffers` at `offset` (looping over short writes); returns the bytes written."""
    views = [memoryview(b) for b in buffers]
    total = 0
    first = 0
    while first < len(views):
        done = os.pwritev(fd, views[first:] if first else views, offset + total)
        if done == 0 and any(views[first:]):
            raise OSError(errno.EIO, "pwritev wrote nothing")
        total += done
        while first < len(views) and done >= len(views[first]):
            done -= len(views[first])
            first += 1
        if done:  # a short write inside one buffer
            views[first] = views[first][done:]
    return total
