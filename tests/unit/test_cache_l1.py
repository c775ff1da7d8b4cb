"""L1: bounded in entries (least recently used goes first) and in age."""

from __future__ import annotations

import pytest

from pourtier.domain.cache import Json
from pourtier.infrastructure.cache.l1 import MemoryCache, Missing


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_stored_value_is_returned_until_its_ttl_passes() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, ttl_seconds=60, clock=clock)
    cache.set("user:1", {"name": "ada"})
    clock.now += 59.9
    assert cache.get("user:1") == {"name": "ada"}
    clock.now += 0.1
    assert isinstance(cache.get("user:1"), Missing)
    assert len(cache) == 0  # the expired entry is gone, not just hidden


def test_a_per_entry_ttl_overrides_the_default() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, ttl_seconds=60, clock=clock)
    cache.set("short", 1, ttl_seconds=1)
    cache.set("long", 2)
    clock.now += 2
    assert isinstance(cache.get("short"), Missing)
    assert cache.get("long") == 2


def test_none_false_and_empty_values_are_values_not_misses() -> None:
    cache = MemoryCache(10, ttl_seconds=60)
    cases: list[tuple[str, Json]] = [
        ("none", None),
        ("false", False),
        ("empty", []),
        ("0", 0),
    ]
    for key, value in cases:
        cache.set(key, value)
        assert cache.get(key) == value
        assert not isinstance(cache.get(key), Missing)
        assert key in cache
    assert "absent" not in cache


def test_the_least_recently_used_entry_is_evicted_first() -> None:
    cache = MemoryCache(3, ttl_seconds=60)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") == "a"  # a is now the most recently used
    cache.set("d", "d")
    assert len(cache) == 3
    assert isinstance(cache.get("b"), Missing)
    assert [cache.get(k) for k in "acd"] == ["a", "c", "d"]


def test_overwriting_refreshes_recency_and_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(2, ttl_seconds=10, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2)
    clock.now += 9
    cache.set("a", 3)  # newest now, and valid for 10 s more
    cache.set("c", 4)  # evicts b, the least recently used
    assert isinstance(cache.get("b"), Missing)
    clock.now += 5
    assert cache.get("a") == 3


def test_it_never_holds_more_than_its_bound() -> None:
    cache = MemoryCache(100, ttl_seconds=60)
    for i in range(10_000):
        cache.set(f"k{i}", i)
        assert len(cache) <= 100
    assert len(cache) == 100
    assert cache.get("k9999") == 9999
    assert isinstance(cache.get("k9899"), Missing)
    assert cache.get("k9900") == 9900


def test_delete_and_clear() -> None:
    cache = MemoryCache(10, ttl_seconds=60)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert isinstance(cache.get("a"), Missing)
    cache.clear()
    assert len(cache) == 0
    assert isinstance(cache.get("b"), Missing)


@pytest.mark.parametrize(("entries", "ttl"), [(0, 60.0), (10, 0.0), (10, -1.0)])
def test_bounds_must_be_positive(entries: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        MemoryCache(entries, ttl_seconds=ttl)
