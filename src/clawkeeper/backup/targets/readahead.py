"""Read-ahead windows for remote `read_range`: one round trip serves many neighbouring blobs.

Restore reads blob by blob, and a database is stored as one 4 KiB page per blob, so a restore
from a remote repository would otherwise pay one request per page. Blobs of one file sit next to
each other in a pack, so a remote target fetches a whole window (a few MiB) from the requested
offset and answers the following requests from it. Only immutable objects (packs, named by their
content) are ever served from a window, so a cached window can never be stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_WINDOW = 4 * 1024 * 1024
DEFAULT_WINDOWS = 8  # 32 MiB at most, per target


class _Pending:
    """A window being fetched by one thread while others wait for it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.data: bytes | None = None


class ReadWindows:
    """An LRU of aligned windows (object, index) → bytes, filled through `fetch(name, offset, length)`.

    `fetch` returns up to `length` bytes (fewer at the end of the object). Windows are aligned,
    so threads reading neighbouring blobs share them, and a window is fetched once even when
    several threads want it at the same moment. A request that ends beyond the object's end
    comes back short, as from the object.
    """

    def __init__(
        self,
        fetch: Callable[[str, int, int], bytes],
        *,
        window: int = DEFAULT_WINDOW,
        windows: int = DEFAULT_WINDOWS,
    ) -> None:
        self._fetch = fetch
        self._window = window
        self._max = windows
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._lock = threading.Lock()

    def read(self, name: str, offset: int, length: int) -> bytes:
        if length > self._window:
            return self._fetch(name, offset, length)
        first = offset // self._window
        last = (offset + max(length, 1) - 1) // self._window
        parts: list[bytes] = []
        for index in range(first, last + 1):
            data = self._get(name, index)
            parts.append(data)
            if len(data) < self._window:
                break  # the object ends in this window
        joined = parts[0] if len(parts) == 1 else b"".join(parts)
        start = offset - first * self._window
        return joined[start : start + length]

    def _get(self, name: str, index: int) -> bytes:
        key = (name, index)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            pending = self._pending.get(key)
            mine = pending is None
            if pending is None:
                pending = self._pending[key] = _Pending()
        if not mine:
            pending.done.wait()
            if pending.data is not None:
                return pending.data
            return self._fetch(name, index * self._window, self._window)  # the fetcher failed
        try:
            data = self._fetch(name, index * self._window, self._window)
            pending.data = data
            with self._lock:
                self._cache[key] = data
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
            return data
        finally:
            with self._lock:
                del self._pending[key]
            pending.done.set()

    def forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == name]:
                del self._cache[key]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
