"""Engine and session factory; the embedded PostgreSQL when no URL is given."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from pourtier.infrastructure.persistence.embedded import join_cluster

EMBEDDED_DATABASE = "pourtier"


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the pgserver cluster kept in `data_dir/postgres`.

    The API, its workers and CLI commands share one running PostgreSQL; it
    stops when the last of them still running exits (see `embedded`).
    """
    server = join_cluster((data_dir / "postgres").resolve(), EMBEDDED_DATABASE)
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    return f"postgresql+asyncpg://postgres@/{EMBEDDED_DATABASE}?host={socket_dir}"


def to_async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the asyncpg driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class QueryCounter:
    """Counts statements sent to PostgreSQL; feeds the db-queries metric."""

    def __init__(self) -> None:
        self.count = 0
        self.listeners: list[Any] = []

    def __call__(self, *_: Any) -> None:
        self.count += 1
        for listener in self.listeners:
            listener()


IDLE_PING_SECONDS = 1.0
"""A pooled connection unused for longer than this is pinged before it is lent."""

CONNECT_WAIT_SECONDS = 3.0
"""How long a new connection is retried while the server refuses it."""
_LAST_USED = "pourtier_last_used"


TRANSACTION_POOLER = "transaction"


def pooler_connect_args(pooler: str) -> dict[str, Any]:
    """The asyncpg options for connections made to `pooler`.

    A transaction-pooling PgBouncer (1.18 knows nothing of prepared
    statements) runs each transaction of one client connection on whichever
    server connection is free, shared with other clients. A named prepared
    statement stays on the server connection it was made on: the next
    transaction may not find it there, or find another client's of the same
    name (asyncpg numbers them per connection: `__asyncpg_stmt_1__`). With
    both statement caches off, asyncpg and SQLAlchemy's dialect prepare every
    statement unnamed and parse it again in the same round trip as its
    execution, so no statement outlives it: nothing to find elsewhere, and
    nothing piling up on the server (unique names would avoid the clashes,
    but every one would stay on its server connection until that closes).
    """
    if pooler != TRANSACTION_POOLER:
        return {}
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0}


def create_engine(
    url: str,
    pool_size: int,
    max_overflow: int,
    pooler: str = "none",
    connect_wait: float = CONNECT_WAIT_SECONDS,
) -> AsyncEngine:
    engine = create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args=pooler_connect_args(pooler),
    )
    ping_idle_connections(engine, IDLE_PING_SECONDS)
    wait_for_connections(engine, connect_wait)
    return engine


def _refused(error: BaseException) -> bool:
    """Nothing listening yet, or a server not taking connections now (one
    starting or shutting down: PostgreSQL's 57P03, a pooler's 08P01)."""
    if isinstance(error, OSError | asyncpg.CannotConnectNowError):
        return True
    state = getattr(error, "sqlstate", None)
    return isinstance(state, str) and state.startswith(("08", "57P0"))


def wait_for_connections(engine: AsyncEngine, seconds: float) -> None:
    """Retry a refused connection for up to `seconds`, backing off.

    A pooler or database restarting (a PgBouncer upgrade, a fail-over) is
    refusing connections for a moment; a request that needs a new one then
    waits that moment out instead of answering 503. A server down for longer
    still gives the 503 (with Retry-After), only `seconds` later.
    """
    if seconds <= 0:
        return

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + seconds
        delay = 0.05
        while True:
            try:
                return dialect.loaded_dbapi.connect(*cargs, **cparams)
            except Exception as error:
                left = deadline - time.monotonic()
                if not _refused(error) or left <= 0:
                    raise
                await_(asyncio.sleep(min(delay, left)))
                delay = min(delay * 2, 0.5)


def ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """`pool_pre_ping`, but only for connections that have been resting.

    SQLAlchemy's pre-ping is a round trip on every checkout, about 0.2 ms of
    CPU, as much as a small query. Under load a connection comes back to the
    pool and goes out again within milliseconds; one that was returned less
    than `idle_seconds` ago has just worked and is lent without a ping. One
    that rested longer is pinged, and if the server dropped it (a restart, an
    idle timeout) the pool replaces it before anyone sees an error, as with
    pre-ping. One whose socket the server has already closed (a restart) is
    replaced whatever its rest, with no round trip. A connection that died
    silently within `idle_seconds` of its last use fails the statement that
    next uses it, as a statement in flight then would; SQLAlchemy then
    invalidates the whole pool, so the connections lent after that are new.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if _closed(dbapi_connection):
            raise DisconnectionError("pooled connection closed by the server")
        last_used = record.info.get(_LAST_USED)
        if last_used is not None and time.monotonic() - last_used < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("stale pooled connection") from error

    @event.listens_for(pool, "connect")
    @event.listens_for(pool, "checkin")
    def _used(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()


def _closed(dbapi_connection: Any) -> bool:
    """Whether the server closed the connection while it rested: no round
    trip, asyncpg already saw the socket end. A restarted pooler or database
    closes every connection at once; without this, each of those used again
    within IDLE_PING_SECONDS would fail its first statement."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    return isinstance(driver, asyncpg.Connection) and driver.is_closed()


def attach_query_counter(engine: AsyncEngine) -> QueryCounter:
    counter = QueryCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    return counter


def watch_pool_use(engine: AsyncEngine, report: Callable[[int], None]) -> None:
    """Report the connections lent out each time one is lent or given back, so
    the figure is current whichever process answers a scrape."""

    def lent(*_: Any) -> None:
        report(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]

    def returned(*_: Any) -> None:
        # Dispatched before the connection is back in the pool.
        report(engine.sync_engine.pool.checkedout() - 1)  # type: ignore[attr-defined]

    if hasattr(engine.sync_engine.pool, "checkedout"):
        event.listen(engine.sync_engine.pool, "checkout", lent)
        event.listen(engine.sync_engine.pool, "checkin", returned)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
