"""Single statements run on asyncpg itself, on a connection of the engine's pool.

For a one-row statement SQLAlchemy's execution path (a greenlet hop, the
execution context, parameter processing, result and row wrapping) costs more
CPU than asyncpg's own work: measured at about 130 µs more per statement, and
`engine.connect()` another 40 µs over borrowing the bare pooled connection.
The hottest statements (a sign-in's) therefore borrow the pooled connection
and run on its asyncpg connection, outside any transaction, so each commits
on its own as on an autocommit connection.

What the pool does stays: its checkout events (the idle ping, the connections
in use), its limits and its reset on return. The statements are counted like
every other one. A statement that finds its connection dead invalidates it and
every connection opened before it, as SQLAlchemy does, so the connections lent
next are new ones; one interrupted (cancelled, timed out) is not reused.

The connections are the engine's, made with its asyncpg options: behind a
transaction-pooling PgBouncer (`DATABASE_POOLER=transaction`) their statement
cache is off, so these statements are unnamed and parsed with their
execution, and each is one transaction of its own on one server connection.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

T = TypeVar("T")
# As in SQLAlchemy's text(): `::` casts are left alone, and so is nothing else
# (a `:name` inside a string literal would be taken for a parameter too).
_NAMED = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")


class Statement:
    """SQL written with `:name` parameters, sent with asyncpg's `$n` ones."""

    def __init__(self, sql: str) -> None:
        names: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            position = names.setdefault(match.group(1), len(names) + 1)
            return f"${position}"

        self.sql = _NAMED.sub(number, sql)
        self.names = tuple(names)

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values in `$n` order; a name left out is a bug, so it raises."""
        return tuple(values[name] for name in self.names)


class DriverStatements:
    def __init__(
        self, engine: AsyncEngine, counted: Callable[[], object] | None = None
    ) -> None:
        self._engine = engine
        self._counted = counted

    async def execute(self, statement: Statement, values: Mapping[str, Any]) -> None:
        arguments = statement.arguments(values)
        await self._run(lambda driver: driver.execute(statement.sql, *arguments))

    async def fetchrow(self, statement: Statement, values: Mapping[str, Any]) -> Any:
        """The first row (an asyncpg `Record`: by name or position), or None."""
        arguments = statement.arguments(values)
        return await self._run(
            lambda driver: driver.fetchrow(statement.sql, *arguments)
        )

    async def _run(self, call: Callable[[Any], Awaitable[T]]) -> T:
        pooled = await self._engine.raw_connection()
        try:
            if self._counted is not None:
                self._counted()
            result = await call(pooled.driver_connection)
        except BaseException as error:
            if not self._discard(pooled, error):
                await greenlet_spawn(pooled.close)
            raise
        # Back to the pool; closing an overflow connection awaits, in a greenlet.
        await greenlet_spawn(pooled.close)
        return result

    def _discard(self, pooled: PoolProxiedConnection, error: BaseException) -> bool:
        """Invalidate a connection that cannot be trusted, as SQLAlchemy would:
        one interrupted mid-statement alone, a dead one with its generation."""
        if not isinstance(error, Exception) or isinstance(
            error, asyncio.TimeoutError | asyncio.CancelledError
        ):
            pooled.invalidate(error)
            return True
        if (
            pooled.driver_connection is not None
            and pooled.driver_connection.is_closed()
        ):
            # Pool._invalidate is what SQLAlchemy's own execution calls on a
            # disconnect: connections opened before this one are replaced too.
            self._engine.sync_engine.pool._invalidate(pooled, error)
            return True
        return False
