"""Large buffers go straight back to the system once freed.

A backup, restore or verify allocates and frees buffers of megabytes all the time (17 MiB
packs, 4 MiB restore batches, pack regions read back). glibc serves a block that large with
mmap and unmaps it on free, but it also raises that threshold to the largest block freed so far,
after which such blocks come from its arenas (one per thread) and stay there, fragmented: the
peak memory then grew with how many batches a run handled, that is with the size of the agent
(a 4 GiB restore took 170 MB where a 1 GiB one took 137 MB; with the threshold fixed, 126 and
114). Fixing the threshold (`mallopt(M_MMAP_THRESHOLD)`, which also stops the adjustment)
keeps every such block outside the arenas. A no-op where the C library has no `mallopt`.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 1024 * 1024

_done = False


def settle_large_buffers() -> bool:
    """Fix the mmap threshold of this process (and the workers it forks). True when it took."""
    global _done
    if _done:
        return True
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD) == 1)
    return _done
