"""The cache use cases read through: L1 in memory, then L2 in Redis, then the database.

Coherence rules:

* Nothing is served from or stored into a cache while the process is not
  *coherent*, that is while it is not listening to the database's change
  notifications (see `invalidation.py`): it could not learn of other
  processes' writes. Reads then go straight to the database.
* An invalidation first marks its keys as being invalidated and drops them
  from L1 (synchronously, before any other request can run), then bumps them
  in L2, then unmarks them. While marked, a key is read from the database,
  never from L2, which may still hold the old value.
* A load that started before an invalidation of its key never stores what it
  loaded (per-key sequence numbers), in L1 or L2.
* Concurrent misses of one key share one load (single flight).
* L1 holds the decoded, read-only value, so an L1 hit is a dictionary
  lookup; L2 holds its JSON, decoded once when it is copied into L1. An L2
  value that does not decode is a miss, and the database's value replaces it.

Metrics: each lookup counts exactly once: an L1 hit, an L2 hit, or a miss
(answered by the database, directly or by joining a load in flight).
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from collections.abc import Collection
from enum import Enum
from typing import NamedTuple, TypeVar, cast

import structlog

from pourtier.domain.cache import EVERYTHING, Codec, Load
from pourtier.infrastructure.cache.l1 import MISSING, MemoryCache
from pourtier.infrastructure.cache.redis_l2 import RedisCache
from pourtier.infrastructure.monitoring.metrics import Metrics

log = structlog.get_logger(__name__)
T = TypeVar("T")
TRACKED_INVALIDATIONS = 10_000


class Layer(Enum):
    L1 = "L1"
    L2 = "L2"
    DATABASE = "database"


class _Fetched(NamedTuple):
    """A load's value and the layer that had it (for the hit metrics)."""

    value: object
    layer: Layer


class TwoLevelCache:
    def __init__(
        self, l1: MemoryCache, l2: RedisCache | None, metrics: Metrics
    ) -> None:
        self.l1 = l1
        self.l2 = l2
        self.coherent = False
        self._hits_l1 = metrics.cache_hits.labels(Layer.L1.value)
        self._hits_l2 = metrics.cache_hits.labels(Layer.L2.value)
        self._misses = metrics.cache_misses
        self._inflight: dict[str, asyncio.Task[_Fetched]] = {}
        self._sequence = 0
        self._dropped: OrderedDict[str, int] = OrderedDict()
        self._floor = 0  # loads that started before this may be stale
        self._marked: Counter[str] = Counter()  # keys being invalidated in L2

    # --- reading -------------------------------------------------------------------

    async def get_or_load(self, key: str, load: Load[T], codec: Codec[T]) -> T | None:
        if not self.coherent:
            self._misses.inc()
            return await load()
        value = self.l1.get(key)
        if value is not MISSING:
            self._hits_l1.inc()
            return cast(T, value)  # stored by this key's one codec
        fetch = self._inflight.get(key)
        if fetch is None:
            fetch = asyncio.get_running_loop().create_task(
                self._fetch(key, load, codec, self._sequence)
            )
            self._inflight[key] = fetch
            fetch.add_done_callback(lambda done: self._landed(key, done))
        fetched = await asyncio.shield(fetch)
        if fetched.layer is Layer.L2:
            self._hits_l2.inc()
        else:
            self._misses.inc()
        return cast("T | None", fetched.value)

    def _landed(self, key: str, fetch: asyncio.Task[_Fetched]) -> None:
        if self._inflight.get(key) is fetch:
            del self._inflight[key]
        if not fetch.cancelled():
            fetch.exception()  # retrieved: every waiter may have gone

    async def _fetch(
        self, key: str, load: Load[T], codec: Codec[T], started: int
    ) -> _Fetched:
        generation: str | None = None
        if self.l2 is not None and self.l2.available and not self._is_marked(key):
            read = await self.l2.get(key)
            generation = read.generation
            if read.found:
                try:
                    decoded = codec.decode(read.value)
                except (ValueError, KeyError, TypeError) as error:
                    log.warning("undecodable cache entry", key=key, error=str(error))
                else:
                    if self._unchanged_since(key, started):
                        self.l1.set(key, decoded)
                    return _Fetched(decoded, Layer.L2)
        value = await load()
        if value is not None and self._unchanged_since(key, started):
            self.l1.set(key, value)
            if self.l2 is not None and generation is not None:
                await self.l2.set(key, codec.encode(value), generation)
        return _Fetched(value, Layer.DATABASE)

    def _is_marked(self, key: str) -> bool:
        return bool(self._marked[key] or self._marked[EVERYTHING])

    def _unchanged_since(self, key: str, started: int) -> bool:
        return started >= self._floor and self._dropped.get(key, -1) <= started

    # --- invalidating --------------------------------------------------------------

    def drop_local(self, keys: Collection[str]) -> None:
        """Forget `keys` in L1 and make loads in flight for them not store."""
        self._sequence += 1
        for key in keys:
            if key == EVERYTHING:
                self.l1.clear()
                self._inflight.clear()
                self._dropped.clear()
                self._floor = self._sequence
                continue
            self.l1.delete(key)
            self._inflight.pop(key, None)
            self._dropped[key] = self._sequence
            self._dropped.move_to_end(key)
        while len(self._dropped) > TRACKED_INVALIDATIONS:
            _, sequence = self._dropped.popitem(last=False)
            self._floor = max(self._floor, sequence)

    def begin_invalidation(self, keys: Collection[str]) -> None:
        """Synchronous half: drop from L1 and keep reads off L2 for these keys."""
        self._marked.update(keys)
        self.drop_local(keys)

    async def finish_invalidation(self, keys: Collection[str]) -> None:
        """Bump the keys in L2, then let reads use L2 for them again."""
        try:
            if self.l2 is not None:
                await self.l2.bump(set(keys))
        finally:
            self._marked.subtract(keys)
            for key in set(keys):
                if self._marked[key] <= 0:
                    del self._marked[key]

    async def invalidate(self, keys: Collection[str]) -> None:
        """Drop `keys` here at once, then in L2; reads skip L2 for them meanwhile."""
        if keys:
            self.begin_invalidation(keys)
            await self.finish_invalidation(keys)

    async def clear(self) -> None:
        """Forget everything, in L1 and this namespace of L2."""
        await self.invalidate([EVERYTHING])

    async def close(self) -> None:
        for fetch in list(self._inflight.values()):
            fetch.cancel()
        self._inflight.clear()
        if self.l2 is not None:
            await self.l2.close()
