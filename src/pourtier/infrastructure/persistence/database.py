"""Engine and session factory; the embedded PostgreSQL when no URL is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

EMBEDDED_DATABASE = "pourtier"
_embedded_servers: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the pgserver cluster kept in `data_dir/postgres`.

    pgserver reference-counts processes using one data directory, so the API,
    its workers and a CLI command share one running PostgreSQL.
    """
    from pgserver.postgres_server import get_server

    pgdata = (data_dir / "postgres").resolve()
    server = _embedded_servers.get(pgdata)
    if server is None:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode="stop")
        _embedded_servers[pgdata] = server
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"  # noqa: S608
        )
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
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


def create_engine(url: str, pool_size: int, max_overflow: int) -> AsyncEngine:
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def attach_query_counter(engine: AsyncEngine) -> QueryCounter:
    counter = QueryCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    return counter


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
