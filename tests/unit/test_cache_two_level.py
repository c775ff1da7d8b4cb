"""The read-through logic over L1 alone: coherence, single flight, races, counts."""

from __future__ import annotations

import asyncio

import pytest

from pourtier.domain.cache import AS_JSON, EVERYTHING, Json
from pourtier.infrastructure.cache.l1 import MemoryCache
from pourtier.infrastructure.cache.two_level import TwoLevelCache
from pourtier.infrastructure.monitoring.metrics import Metrics


class Source:
    """A stand-in database table: counts reads, can hold them at a gate."""

    def __init__(self, value: Json) -> None:
        self.value = value
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def load(self) -> Json:
        self.reads += 1
        seen = self.value
        if self.gate is not None:
            await self.gate.wait()
        return seen


def counts(metrics: Metrics) -> tuple[float, float, float]:
    registry = metrics.registry
    return (
        registry.get_sample_value("pourtier_cache_hits_total", {"cache_type": "L1"})
        or 0,
        registry.get_sample_value("pourtier_cache_hits_total", {"cache_type": "L2"})
        or 0,
        registry.get_sample_value("pourtier_cache_misses_total") or 0,
    )


def make() -> tuple[TwoLevelCache, Metrics]:
    metrics = Metrics()
    cache = TwoLevelCache(MemoryCache(100, 60), None, metrics)
    cache.coherent = True
    return cache, metrics


async def test_read_through_then_served_from_l1_and_counted() -> None:
    cache, metrics = make()
    source = Source({"name": "ada"})
    assert await cache.get_or_load("user:1", source.load, AS_JSON) == {"name": "ada"}
    for _ in range(3):
        assert await cache.get_or_load("user:1", source.load, AS_JSON) == {
            "name": "ada"
        }
    assert source.reads == 1
    assert counts(metrics) == (3, 0, 1)


async def test_an_incoherent_cache_reads_the_source_every_time_and_keeps_nothing() -> (
    None
):
    cache, metrics = make()
    cache.coherent = False
    source = Source(1)
    for _ in range(3):
        assert await cache.get_or_load("k", source.load, AS_JSON) == 1
    assert source.reads == 3
    assert len(cache.l1) == 0
    assert counts(metrics) == (0, 0, 3)


async def test_none_is_not_cached() -> None:
    cache, _ = make()
    source = Source(None)
    await cache.get_or_load("session:x", source.load, AS_JSON)
    await cache.get_or_load("session:x", source.load, AS_JSON)
    assert source.reads == 2


async def test_invalidate_drops_the_key_and_only_that_key() -> None:
    cache, _ = make()
    first, second = Source("a1"), Source("b1")
    await cache.get_or_load("a", first.load, AS_JSON)
    await cache.get_or_load("b", second.load, AS_JSON)
    first.value = "a2"
    await cache.invalidate(["a"])
    assert await cache.get_or_load("a", first.load, AS_JSON) == "a2"
    assert await cache.get_or_load("b", second.load, AS_JSON) == "b1"
    assert (first.reads, second.reads) == (2, 1)


async def test_invalidating_everything_drops_every_key() -> None:
    cache, _ = make()
    sources = {key: Source(key) for key in "abc"}
    for key, source in sources.items():
        await cache.get_or_load(key, source.load, AS_JSON)
    await cache.invalidate([EVERYTHING])
    assert len(cache.l1) == 0
    for key, source in sources.items():
        await cache.get_or_load(key, source.load, AS_JSON)
        assert source.reads == 2


async def test_concurrent_misses_share_one_load() -> None:
    cache, metrics = make()
    source = Source({"docs": [1, 2, 3]})
    source.gate = asyncio.Event()
    readers = [
        asyncio.create_task(cache.get_or_load("legal:active", source.load, AS_JSON))
        for _ in range(20)
    ]
    await asyncio.sleep(0.01)
    source.gate.set()
    assert await asyncio.gather(*readers) == [{"docs": [1, 2, 3]}] * 20
    assert source.reads == 1
    assert counts(metrics) == (0, 0, 20)


async def test_a_load_that_started_before_an_invalidation_is_not_kept() -> None:
    """Read old row, write commits and invalidates, then the old read lands."""
    cache, _ = make()
    source = Source("old")
    source.gate = asyncio.Event()
    reader = asyncio.create_task(cache.get_or_load("user:1", source.load, AS_JSON))
    await asyncio.sleep(0.01)  # the reader has read "old" and waits
    source.value = "new"
    await cache.invalidate(["user:1"])
    # A request after the invalidation does not join the stale load.
    source.gate.set()
    assert await cache.get_or_load("user:1", source.load, AS_JSON) == "new"
    assert await reader == "old"  # it asked before the write committed
    assert await cache.get_or_load("user:1", source.load, AS_JSON) == "new"
    assert source.reads == 2


async def test_a_failed_load_reaches_every_waiter_and_is_retried_next_time() -> None:
    cache, _ = make()
    gate = asyncio.Event()
    calls = 0

    async def broken() -> Json:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise ConnectionError("database down")

    readers = [
        asyncio.create_task(cache.get_or_load("k", broken, AS_JSON)) for _ in range(3)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert calls == 1
    assert await cache.get_or_load("k", Source(5).load, AS_JSON) == 5


async def test_a_cancelled_reader_does_not_cancel_the_others() -> None:
    cache, _ = make()
    source = Source("v")
    source.gate = asyncio.Event()
    first = asyncio.create_task(cache.get_or_load("k", source.load, AS_JSON))
    second = asyncio.create_task(cache.get_or_load("k", source.load, AS_JSON))
    await asyncio.sleep(0.01)
    first.cancel()
    source.gate.set()
    assert await second == "v"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await cache.get_or_load("k", source.load, AS_JSON) == "v"
    assert source.reads == 1


async def test_l1_stays_within_its_bound() -> None:
    metrics = Metrics()
    cache = TwoLevelCache(MemoryCache(5, 60), None, metrics)
    cache.coherent = True
    for i in range(50):
        await cache.get_or_load(f"user:{i}", Source(i).load, AS_JSON)
    assert len(cache.l1) == 5
