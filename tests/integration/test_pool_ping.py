"""Pooled connections: pinged only after resting, and replaced when dead."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from pourtier.infrastructure.persistence.database import (
    ping_idle_connections,
    to_async_url,
)
from tests.support.db import terminate_backends


async def test_a_rested_connection_killed_by_the_server_is_replaced_unseen(
    database_url: str,
) -> None:
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    ping_idle_connections(engine, idle_seconds=0.05)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
        await terminate_backends(database_url, first)
        async with engine.connect() as connection:
            second = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()


async def test_a_connection_just_returned_is_lent_again_without_a_ping(
    database_url: str,
) -> None:
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    ping_idle_connections(engine, idle_seconds=3600)
    pings = 0
    ping = engine.sync_engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        nonlocal pings
        pings += 1
        return ping(dbapi_connection)

    engine.sync_engine.dialect.do_ping = counting  # type: ignore[method-assign]
    try:
        for _ in range(3):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        assert pings == 0
    finally:
        await engine.dispose()
