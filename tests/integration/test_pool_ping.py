"""Pooled connections: pinged only after resting, and replaced when dead."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pourtier.infrastructure.persistence.database import (
    ping_idle_connections,
    to_async_url,
    wait_for_connections,
)
from tests.support.db import terminate_backends
from tests.support.processes import free_port


@pytest.mark.parametrize(
    "idle_seconds",
    [
        pytest.param(0.05, id="rested: pinged"),
        # A restarted pooler closes every client connection at once, most of
        # them used a moment before: no ping is due, but the socket has ended.
        pytest.param(3600, id="just used: its socket ended"),
    ],
)
async def test_a_connection_the_server_closed_is_replaced_unseen(
    database_url: str, idle_seconds: float
) -> None:
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    ping_idle_connections(engine, idle_seconds=idle_seconds)
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


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def test_a_refused_connection_is_retried_until_the_server_listens(
    database_url: str,
) -> None:
    """A pooler restarting refuses connections for a moment: the request that
    needs one waits for it instead of failing."""
    real = make_url(to_async_url(database_url))
    port = free_port()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(real.host, real.port)
        await asyncio.gather(_forward(reader, up_writer), _forward(up_reader, writer))

    engine = create_async_engine(real.set(host="127.0.0.1", port=port), pool_size=1)
    wait_for_connections(engine, seconds=5)

    async def listen_later() -> asyncio.Server:
        await asyncio.sleep(0.6)
        return await asyncio.start_server(relay, "127.0.0.1", port)

    later = asyncio.create_task(listen_later())
    began = time.monotonic()
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
        assert time.monotonic() - began >= 0.6
    finally:
        await engine.dispose()
        (await later).close()


async def test_a_server_that_stays_away_still_fails_after_the_wait(
    database_url: str,
) -> None:
    real = make_url(to_async_url(database_url))
    engine = create_async_engine(
        real.set(host="127.0.0.1", port=free_port()), pool_size=1
    )
    wait_for_connections(engine, seconds=0.3)
    began = time.monotonic()
    try:
        with contextlib.suppress(OSError):
            async with engine.connect():
                raise AssertionError("connected to nothing")
        assert 0.3 <= time.monotonic() - began < 3
    finally:
        await engine.dispose()
