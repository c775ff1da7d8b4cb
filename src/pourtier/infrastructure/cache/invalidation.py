"""Hearing about other processes' writes: PostgreSQL LISTEN on `pourtier_cache`.

Triggers (migration 0003) NOTIFY the cache key of every changed row, and
PostgreSQL delivers a notification exactly when its transaction commits, to
every listening session, in commit order. Each server process keeps one
connection listening. On a notification it drops the key from its L1 at once
(in the callback, before any other request runs) and bumps it in L2, which
also covers writers that have no Redis (the CLI) or died after committing.

The cache is coherent only while the connection listens: it is switched off
when the connection is lost (reads go to the database), and on every
(re)connection everything cached is dropped first, since notifications may
have been missed. The connection is pinged, and re-opened with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from pourtier.infrastructure.cache.two_level import TwoLevelCache
from pourtier.infrastructure.persistence.database import to_async_url

log = structlog.get_logger(__name__)

CHANNEL = "pourtier_cache"
SYNC_PREFIX = "sync:"
CONNECT_TIMEOUT_SECONDS = 5.0
PING_INTERVAL_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.1


def listen_dsn(database_url: str) -> str:
    """The database URL as plain libpq/asyncpg understands it."""
    url = make_url(to_async_url(database_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class InvalidationListener:
    def __init__(
        self,
        dsn: str,
        cache: TwoLevelCache,
        ping_interval: float = PING_INTERVAL_SECONDS,
    ) -> None:
        self._dsn = dsn
        self.cache = cache
        self.ping_interval = ping_interval
        self.connections = 0
        self._connection: Any = None
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._applier: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._barriers: dict[str, asyncio.Future[None]] = {}

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, wait_seconds: float = CONNECT_TIMEOUT_SECONDS) -> None:
        """Listen in the background; wait a little for the first connection."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._applier = loop.create_task(self._apply_forever())
        self._task = loop.create_task(self._run())
        try:
            await asyncio.wait_for(self._connected.wait(), wait_seconds)
        except TimeoutError:
            log.warning("not yet listening for cache invalidations; cache is off")

    async def stop(self) -> None:
        self.cache.coherent = False
        for task in (self._task, self._applier):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._applier = None

    async def barrier(self, within_seconds: float = 5.0) -> None:
        """Return once every change committed before this call has been applied."""
        connection = self._connection
        if connection is None or not self.connected:
            raise RuntimeError("not listening for cache invalidations")
        token = uuid.uuid4().hex
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barriers[token] = waiter
        try:
            async with self._lock:
                await connection.execute(
                    "SELECT pg_notify($1, $2)", CHANNEL, SYNC_PREFIX + token
                )
            await asyncio.wait_for(waiter, within_seconds)
        finally:
            self._barriers.pop(token, None)

    # --- the connection ------------------------------------------------------------

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    server_settings={"application_name": "pourtier-cache-listener"},
                )
            except Exception as error:
                log.warning(
                    "cannot listen for cache invalidations; retrying",
                    error=type(error).__name__,
                    retry_seconds=backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            try:
                await self._listen(connection)
                backoff = FIRST_BACKOFF_SECONDS
            except Exception as error:
                log.warning(
                    "lost the cache invalidation connection; reconnecting",
                    error=type(error).__name__,
                )
            finally:
                self.cache.coherent = False
                self._connected.clear()
                self._connection = None
                connection.terminate()
            await asyncio.sleep(backoff)

    async def _listen(self, connection: Any) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(CHANNEL, self._on_notification)
        # Anything cached before LISTEN took effect may have missed a change.
        await self.cache.clear()
        self._connection = connection
        self.connections += 1
        self.cache.coherent = True
        self._connected.set()
        log.info("listening for cache invalidations", channel=CHANNEL)
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self.ping_interval)
            if lost.is_set():
                break
            async with self._lock:
                await asyncio.wait_for(
                    connection.fetchval("SELECT 1"), PING_TIMEOUT_SECONDS
                )
        raise ConnectionError("the listening connection was closed")

    # --- notifications -------------------------------------------------------------

    def _on_notification(
        self, _connection: Any, _pid: int, _channel: str, payload: str
    ) -> None:
        if not payload.startswith(SYNC_PREFIX):
            self.cache.begin_invalidation([payload])
        self._queue.put_nowait(payload)

    async def _apply_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            keys = [item for item in batch if not item.startswith(SYNC_PREFIX)]
            if keys:
                try:
                    await self.cache.finish_invalidation(keys)
                except Exception:
                    log.exception("could not apply cache invalidations")
            for item in batch:
                waiter = self._barriers.get(item[len(SYNC_PREFIX) :])
                if item.startswith(SYNC_PREFIX) and waiter and not waiter.done():
                    waiter.set_result(None)
