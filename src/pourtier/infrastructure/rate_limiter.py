"""Moving-window rate limits from the `limits` library, shared through Redis.

With Redis every worker and replica draws on one budget per key; without it,
each process keeps its own in memory. A failing Redis never refuses a request:
the limiter falls back to this process's memory, says so once in the log, and
tries Redis again every `retry_seconds`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

log = structlog.get_logger(__name__)

STORE_TIMEOUT_SECONDS = 0.5
"""Longest a request waits on Redis before it is limited in memory instead."""
KEY_PREFIX = "pourtier:ratelimit"

Key = tuple[str, ...]
"""What a budget belongs to, e.g. `("ip", "203.0.113.7")` or `("user", id)`."""


def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """`"20/minute"`, or several at once: `"5/second; 100/hour"`."""
    try:
        items = tuple(parse_many(text))
    except ValueError:
        items = ()
    if not items:
        raise ValueError(f"{text!r} is not a rate limit such as '20/minute'")
    return items


@dataclass(frozen=True, slots=True)
class Window:
    """One limit of one key, just after a hit."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    """Epoch seconds when the oldest hit in the window leaves it."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for a request, reported from its tightest window."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    """Whole seconds until the reported window frees a hit."""

    @classmethod
    def of(cls, windows: Sequence[Window], now: float) -> Decision:
        denied = [w for w in windows if not w.allowed]
        if denied:
            shown = max(denied, key=lambda w: w.reset_at)
        else:
            shown = min(windows, key=lambda w: (w.remaining, -w.reset_at))
        return cls(
            allowed=not denied,
            limit=shown.limit,
            remaining=max(shown.remaining, 0),
            reset_after=max(math.ceil(shown.reset_at - now), 0),
        )


class RateLimiter:
    """Named groups of limits (`"auth"`, `"read"`, ...), each hit per key."""

    def __init__(
        self,
        groups: Mapping[str, str],
        redis_url: str | None = None,
        *,
        retry_seconds: float = 5.0,
        timeout: float = STORE_TIMEOUT_SECONDS,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self.groups = {name: parse_limits(text) for name, text in groups.items()}
        self.retry_seconds = retry_seconds
        self.timeout = timeout
        self._memory_storage = MemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        self._pool: ConnectionPool | None = None
        self._redis: MovingWindowRateLimiter | None = None
        if redis_url:
            self._pool = ConnectionPool.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=key_prefix,
                wrap_exceptions=True,
                **options,
            )
            self._redis = MovingWindowRateLimiter(storage)
        self._redis_down = False
        self._retry_at = 0.0

    @property
    def backend(self) -> str:
        """`redis` while Redis answers, `memory` without it or while it fails."""
        return "redis" if self._redis is not None and not self._redis_down else "memory"

    async def hit(self, group: str, *keys: Key) -> Decision:
        """Count one request against each key's budget in `group`."""
        items = self.groups[group]
        if self._redis is not None and self._may_use_redis():
            try:
                async with asyncio.timeout(self.timeout):
                    windows = await _hit_all(self._redis, group, items, keys)
            except Exception as error:
                self._failed(error)
            else:
                if self._redis_down:
                    self._redis_down = False
                    log.info("rate limit store reachable again; limits are shared")
                return Decision.of(windows, time.time())
        windows = await _hit_all(self._memory, group, items, keys)
        return Decision.of(windows, time.time())

    def _may_use_redis(self) -> bool:
        if not self._redis_down:
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        # One request probes Redis; the others stay in memory meanwhile.
        self._retry_at = now + self.retry_seconds
        return True

    def _failed(self, error: Exception) -> None:
        self._retry_at = time.monotonic() + self.retry_seconds
        if not self._redis_down:
            self._redis_down = True
            log.warning(
                "rate limit store unreachable; limiting per process in memory",
                error=type(error).__name__,
                retry_seconds=self.retry_seconds,
            )

    async def close(self) -> None:
        timer = self._memory_storage.timer
        if timer is not None and not timer.done():
            timer.cancel()
        if self._pool is not None:
            await self._pool.disconnect()


async def _hit_one(
    limiter: MovingWindowRateLimiter, group: str, item: RateLimitItem, key: Key
) -> Window:
    allowed = await limiter.hit(item, group, *key)
    stats = await limiter.get_window_stats(item, group, *key)
    return Window(allowed, item.amount, stats.remaining, stats.reset_time)


async def _hit_all(
    limiter: MovingWindowRateLimiter,
    group: str,
    items: Sequence[RateLimitItem],
    keys: Sequence[Key],
) -> list[Window]:
    pairs = [(item, key) for key in keys for item in items]
    if len(pairs) == 1:
        return [await _hit_one(limiter, group, *pairs[0])]
    return list(
        await asyncio.gather(*(_hit_one(limiter, group, i, k) for i, k in pairs))
    )
