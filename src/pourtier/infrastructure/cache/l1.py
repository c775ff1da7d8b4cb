"""L1: this process's memory, bounded in entries and in age.

It holds decoded values, so a hit costs a dictionary lookup; they are
read-only objects (see `Codec`), since every reader gets the same one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final


class Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()
"""What `MemoryCache.get` answers for an absent or expired key (None is a value)."""


class MemoryCache:
    """Least-recently-used dictionary whose entries also expire.

    Not thread-safe: it belongs to one event loop, as everything here does.
    """

    def __init__(
        self,
        max_entries: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, object]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not MISSING

    def get(self, key: str) -> object:
        entry = self._entries.get(key)
        if entry is None:
            return MISSING
        expires, value = entry
        if expires <= self._clock():
            del self._entries[key]
            return MISSING
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: object, ttl_seconds: float | None = None) -> None:
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        self._entries.clear()
