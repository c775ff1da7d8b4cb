"""Statements run on asyncpg through the engine's pool: counted, and a dead
connection is replaced with every connection opened before it, as SQLAlchemy
replaces them after a disconnect."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from pourtier.di.container import Container
from pourtier.infrastructure.persistence.database import (
    ping_idle_connections,
    to_async_url,
)
from pourtier.infrastructure.persistence.driver import DriverStatements, Statement
from tests.support.db import terminate_backends

BACKEND = Statement("SELECT pg_backend_pid() AS pid, CAST(:n AS int) + :n AS twice")


def test_named_parameters_become_numbered_ones_and_casts_stay() -> None:
    statement = Statement("SELECT :a, x::text, CAST(:b AS int) + :a")
    assert statement.sql == "SELECT $1, x::text, CAST($2 AS int) + $1"
    assert statement.arguments({"b": 2, "a": 1}) == (1, 2)
    with pytest.raises(KeyError):
        statement.arguments({"a": 1})


async def test_statements_are_counted_and_run_outside_a_transaction(
    database_url: str, container: Container
) -> None:
    """`container`: the schema is migrated."""
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    counted: list[None] = []
    statements = DriverStatements(engine, lambda: counted.append(None))
    try:
        row = await statements.fetchrow(BACKEND, {"n": 21})
        assert row["twice"] == 42
        value = secrets.token_hex(16)
        await statements.execute(
            Statement(
                "INSERT INTO auth_nonces (value, wallet_address, issued_at, "
                "expires_at) VALUES (:value, 'w', now(), now())"
            ),
            {"value": value},
        )
        assert len(counted) == 2
        # Committed on its own: another session sees it while the pool holds
        # the connection that wrote it.
        other = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            assert await other.fetchval(
                "DELETE FROM auth_nonces WHERE value = $1 RETURNING true", value
            )
        finally:
            await other.close()
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_dead_connection_is_replaced_with_those_opened_before_it(
    database_url: str,
) -> None:
    engine = create_async_engine(to_async_url(database_url), pool_size=3)
    statements = DriverStatements(engine)
    plain = database_url.replace("+asyncpg", "")
    try:
        rows = await asyncio.gather(
            *(statements.fetchrow(BACKEND, {"n": 1}) for _ in range(3))
        )
        first = {row["pid"] for row in rows}
        assert len(first) == 3
        await terminate_backends(plain, *first)
        failures: list[BaseException] = []
        after: set[Any] = set()
        for _ in range(4):
            try:
                after.add((await statements.fetchrow(BACKEND, {"n": 1}))["pid"])
            except (asyncpg.InterfaceError, asyncpg.PostgresError, OSError) as error:
                failures.append(error)
        assert len(failures) <= 1, failures
        assert after
        assert not after & first
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_cancelled_statement_does_not_give_its_connection_back(
    database_url: str,
) -> None:
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    statements = DriverStatements(engine)
    try:
        before = (await statements.fetchrow(BACKEND, {"n": 1}))["pid"]
        slow = asyncio.ensure_future(
            statements.execute(Statement("SELECT pg_sleep(5)"), {})
        )
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        after = (await statements.fetchrow(BACKEND, {"n": 1}))["pid"]
        assert after != before
        assert engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_rested_dead_connection_is_replaced_unseen(database_url: str) -> None:
    """The pool's idle ping runs on this checkout too."""
    engine = create_async_engine(to_async_url(database_url), pool_size=1)
    ping_idle_connections(engine, idle_seconds=0.05)
    statements = DriverStatements(engine)
    try:
        first = (await statements.fetchrow(BACKEND, {"n": 1}))["pid"]
        await terminate_backends(database_url, first)
        second = (await statements.fetchrow(BACKEND, {"n": 1}))["pid"]
        assert second != first
    finally:
        await engine.dispose()
