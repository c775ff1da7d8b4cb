"""The test database directly: emptied between tests, and read to check what
the service stored."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy import Row, exists, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from pourtier.di.container import Container
from pourtier.infrastructure.persistence.models import Base

APPEND_ONLY = ("audit_log", "kyc_events")
"""Tables whose triggers refuse DELETE (migrations 0007 and 0008)."""
DEADLOCK = "40P01"
EMPTY_ATTEMPTS = 3


async def fetch(container: Container, sql: str, **params: Any) -> list[Row[Any]]:
    """Every row `sql` selects, on a connection of its own."""
    async with container.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def fetch_value(container: Container, sql: str, **params: Any) -> Any:
    async with container.engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def terminate_backends(database_url: str, *pids: int) -> None:
    """Kill these server processes, as a crash or an administrator would,
    and give the pool's connections a moment to notice."""
    killer = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await killer.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
            list(pids),
        )
    finally:
        await killer.close()
    await asyncio.sleep(0.1)


async def empty_tables(container: Container) -> None:
    """Every table of the models emptied, in one transaction.

    DELETE, children first, rather than one TRUNCATE of every table: that
    makes new files for each table and index, about 170 ms a test where
    deleting the few rows a test leaves takes 1 ms. Row triggers still tell
    other processes of each cached row deleted (migration 0003), as TRUNCATE's
    did of everything. The append-only tables are truncated, when not empty.

    A server kept between tests (the browser tests') runs its workers
    meanwhile, so this may deadlock with a worker's pass; PostgreSQL then
    aborts one of them, and this tries again."""
    for attempt in range(EMPTY_ATTEMPTS):
        try:
            async with container.engine.begin() as connection:
                await _empty(connection)
            return
        except DBAPIError as error:
            deadlock = getattr(error.orig, "sqlstate", None) == DEADLOCK
            if not deadlock or attempt == EMPTY_ATTEMPTS - 1:
                raise


async def _empty(connection: AsyncConnection) -> None:
    for table in APPEND_ONLY:
        model = Base.metadata.tables[table]
        if await connection.scalar(select(exists().select_from(model))):
            await connection.execute(text(f"TRUNCATE {table} CASCADE"))
    for model in reversed(Base.metadata.sorted_tables):
        if model.name not in APPEND_ONLY:
            await connection.execute(model.delete())
