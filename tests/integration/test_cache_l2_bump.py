"""An invalidation in L2: every key gets a new generation and loses its value,
so a reader that saw the old generation cannot store what it loaded."""

from __future__ import annotations

import secrets

from pourtier.infrastructure.cache.redis_l2 import (
    GENERATION_TTL_MS,
    RedisCache,
    connect_redis,
)

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


async def test_bump_renews_each_generation_and_drops_each_value() -> None:
    redis = connect_redis(LOCAL_REDIS, 1.0)
    cache = RedisCache(redis, f"test-bump-{secrets.token_hex(4)}", 60)
    keys = ["user:a", "user:b", "session:c"]
    try:
        seen = {key: (await cache.get(key)).generation for key in keys}
        for key in keys:
            assert await cache.set(key, {"v": key}, seen[key] or "")
            assert (await cache.get(key)).found
        assert await cache.bump(set(keys))
        for key in keys:
            read = await cache.get(key)
            assert not read.found
            assert read.generation
            assert read.generation != seen[key]
            ttl = await redis.pttl(cache._generation_key(key))
            assert 0 < ttl <= GENERATION_TTL_MS
            # Loaded before the bump: refused.
            assert not await cache.set(key, {"v": "stale"}, seen[key] or "")
            assert not (await cache.get(key)).found
        untouched = "user:other"
        before = (await cache.get(untouched)).generation
        assert await cache.bump({"user:a"})
        assert (await cache.get(untouched)).generation == before
    finally:
        await redis.delete(
            *(cache._generation_key(k) for k in [*keys, "user:other"]),
            *(cache._value_key(k) for k in keys),
        )
        await redis.aclose()
