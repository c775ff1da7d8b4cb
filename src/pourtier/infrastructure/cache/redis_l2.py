"""L2: Redis, shared by every process, and never a reason for a request to fail.

Each value `{ns}:v:{key}` has a generation `{ns}:g:{key}`. Invalidating a key
gives it a new random generation and deletes its value, atomically (a script).
A reader that missed notes the generation before it queries the database and
stores what it loaded only if the generation is still the same (a Lua script),
so a value read before a write committed can never be stored after that
write's invalidation.

Every Redis call is bounded by a short timeout. The first failure opens the
circuit: L2 is skipped (requests are served from L1 and the database) while a
background probe pings Redis every few seconds. When Redis answers again, the
probe deletes every value of the namespace, since invalidations may have been
missed meanwhile, and only then closes the circuit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Final, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.engine import make_url

from pourtier.domain.cache import EVERYTHING, Json
from pourtier.infrastructure.persistence.database import to_async_url

log = structlog.get_logger(__name__)
T = TypeVar("T")

GENERATION_TTL_MS = 3_600_000
"""Far longer than any database read a generation guards."""
FLUSH_TIMEOUT_SECONDS = 30.0
FLUSH_BATCH = 500

SET_IF_GENERATION = """
if (redis.call('GET', KEYS[2]) or '') == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  return 1
end
return 0
"""


# KEYS: (generation, value) pairs; ARGV: one new generation per pair, then the
# generations' lifetime. One script rather than a MULTI/EXEC pipeline: as
# atomic, one command and one reply instead of four of each for a key, about
# half the client's CPU per invalidation.
BUMP_GENERATIONS = """
local ttl = ARGV[#ARGV]
for i = 1, #KEYS, 2 do
  redis.call('SET', KEYS[i], ARGV[(i + 1) / 2], 'PX', ttl)
  redis.call('DEL', KEYS[i + 1])
end
return 1
"""


@dataclass(frozen=True)
class L2Read:
    found: bool
    value: Json = None
    generation: str | None = None
    """Generation seen on a miss; None when L2 could not be read (don't store)."""


UNREADABLE: Final = L2Read(False)


class _Failed:
    pass


_FAILED: Final = _Failed()


def encode(value: Json) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class RedisCache:
    def __init__(
        self,
        redis: Redis,
        namespace: str,
        ttl_seconds: float,
        timeout_seconds: float = 0.25,
        retry_seconds: float = 2.0,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.timeout_seconds = timeout_seconds
        self.retry_seconds = retry_seconds
        self.outages = 0
        self._down = False
        self._probe: asyncio.Task[None] | None = None
        self._set_script = redis.register_script(SET_IF_GENERATION)
        self._bump_script = redis.register_script(BUMP_GENERATIONS)

    @property
    def available(self) -> bool:
        return not self._down

    def _value_key(self, key: str) -> str:
        return f"{self.namespace}:v:{key}"

    def _generation_key(self, key: str) -> str:
        return f"{self.namespace}:g:{key}"

    async def _attempt(
        self, operation: Callable[[], Awaitable[T]], seconds: float | None = None
    ) -> T | _Failed:
        if self._down:
            return _FAILED
        try:
            async with asyncio.timeout(seconds or self.timeout_seconds):
                return await operation()
        except Exception as error:
            self._trip(error)
            return _FAILED

    def _trip(self, error: BaseException) -> None:
        if self._down:
            return
        self._down = True
        self.outages += 1
        log.warning(
            "cache L2 (Redis) failed; serving from L1 and the database",
            error=type(error).__name__,
            retry_seconds=self.retry_seconds,
        )
        self._probe = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    await self.redis.ping()
                async with asyncio.timeout(FLUSH_TIMEOUT_SECONDS):
                    await self._flush()
            except Exception as error:
                log.debug("cache L2 still unavailable", error=type(error).__name__)
                continue
            self._down = False
            self._probe = None
            log.info("cache L2 (Redis) is back")
            return

    async def get(self, key: str) -> L2Read:
        async def read() -> list[bytes | str | None]:
            found: list[bytes | str | None] = await self.redis.mget(
                self._value_key(key), self._generation_key(key)
            )
            return found

        result = await self._attempt(read)
        if isinstance(result, _Failed):
            return UNREADABLE
        raw, generation = result
        token = generation.decode() if isinstance(generation, bytes) else ""
        if raw is None:
            return L2Read(False, None, token)
        try:
            value: Json = json.loads(raw)
        except ValueError:
            return L2Read(False, None, token)
        return L2Read(True, value, token)

    async def set(self, key: str, value: Json, generation: str) -> bool:
        """Store unless the key was invalidated since `generation` was read."""

        async def write() -> object:
            return await self._set_script(
                keys=[self._value_key(key), self._generation_key(key)],
                args=[encode(value), generation, self.ttl_ms],
            )

        result = await self._attempt(write)
        return not isinstance(result, _Failed) and result == 1

    async def bump(self, keys: Collection[str]) -> bool:
        """New generations for `keys` and their values gone; False if L2 failed."""
        if EVERYTHING in keys:
            return not isinstance(
                await self._attempt(self._flush, FLUSH_TIMEOUT_SECONDS), _Failed
            )

        async def write() -> object:
            names: list[str] = []
            generations: list[str | int] = []
            for key in keys:
                names += (self._generation_key(key), self._value_key(key))
                generations.append(secrets.token_hex(8))
            return await self._bump_script(
                keys=names, args=[*generations, GENERATION_TTL_MS]
            )

        return not isinstance(await self._attempt(write), _Failed)

    async def flush(self) -> bool:
        """Delete every value of this namespace; False if L2 failed."""
        return not isinstance(
            await self._attempt(self._flush, FLUSH_TIMEOUT_SECONDS), _Failed
        )

    async def _flush(self) -> None:
        batch: list[bytes] = []
        async for found in self.redis.scan_iter(
            match=self._value_key("*"), count=FLUSH_BATCH
        ):
            batch.append(found)
            if len(batch) >= FLUSH_BATCH:
                await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            await self.redis.unlink(*batch)

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe


def namespace_for(database_url: str) -> str:
    """One namespace per database, so deployments sharing a Redis never mix."""
    url = make_url(to_async_url(database_url))
    identity = "|".join(
        str(part) for part in (url.host, url.port, url.database, url.query.get("host"))
    )
    return "pourtier:" + hashlib.sha256(identity.encode()).hexdigest()[:12]


def connect_redis(url: str, timeout_seconds: float) -> Redis:
    """A client that fails fast: short timeouts, no retries (the circuit decides)."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), 0),
    )
