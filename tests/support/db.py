"""Reading the test database directly, to check what the service stored."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy import Row, text

from pourtier.di.container import Container


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
