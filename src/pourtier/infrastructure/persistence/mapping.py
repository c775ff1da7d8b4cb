"""One mapping per entity: a domain dataclass's fields are its table's columns.

Each table is named after its entity's fields, so rows and entities convert
by name with nothing written per entity: a row becomes an entity through the
dataclass's own pydantic validation (stored strings to enums, NUMERIC amounts
to ints, and a refusal if the database holds what the entity cannot), and an
entity becomes column values field by field (asyncpg takes enums as their
strings and ints for NUMERIC as they are).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar

import asyncpg
from pydantic import TypeAdapter
from sqlalchemy import Select, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pourtier.domain.errors import Conflict

T = TypeVar("T")


_NAMES: dict[type, tuple[str, ...]] = {}
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _names(kind: type) -> tuple[str, ...]:
    if kind not in _NAMES:
        _NAMES[kind] = tuple(f.name for f in fields(kind))
    return _NAMES[kind]


def to_entity(kind: type[T], row: object) -> T:
    """The `kind` read from an ORM instance, a result row or an asyncpg
    record, by the names of its fields."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    if isinstance(row, asyncpg.Record):
        values = {name: row[name] for name in _names(kind)}
    else:
        values = {name: getattr(row, name) for name in _names(kind)}
    found: T = _ADAPTERS[kind].validate_python(values)
    return found


def to_entities(kind: type[T], rows: Iterable[object]) -> list[T]:
    return [to_entity(kind, row) for row in rows]


def to_columns(entity: object, *, only: Iterable[str] = ()) -> dict[str, Any]:
    """The column values of `entity`: all of its fields, or `only` these."""
    names = tuple(only) or _names(type(entity))
    return {name: getattr(entity, name) for name in names}


class SqlRepository:
    """A repository on the unit of work's session, and the row helpers they share.

    `changed` collects the cache keys of rows written; the unit of work
    invalidates them once the transaction has committed.
    """

    def __init__(self, session: AsyncSession, changed: set[str] | None = None) -> None:
        self._session = session
        self._changed = changed if changed is not None else set()

    async def _add_new(self, row: object, conflict: str) -> None:
        """Insert `row` now; if it breaks a unique constraint, `Conflict(conflict)`."""
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError:
            raise Conflict(conflict) from None

    async def _insert_unless_there(
        self, table: type[Any], values: dict[str, Any], unique: list[str]
    ) -> bool:
        """Insert unless a row has the same `unique` columns; whether it did."""
        statement = (
            insert(table).values(values).on_conflict_do_nothing(index_elements=unique)
        )
        key = table.__table__.primary_key.columns
        result = await self._session.execute(statement.returning(*key))
        return result.first() is not None

    async def _one(
        self, kind: type[T], query: Select[Any], for_update: bool = False
    ) -> T | None:
        """The entity the query finds, read fresh (and locked if `for_update`)."""
        if for_update:
            query = query.with_for_update()
        row = await self._session.scalar(
            query.execution_options(populate_existing=True)
        )
        return to_entity(kind, row) if row else None

    async def _all(self, kind: type[T], query: Select[Any]) -> list[T]:
        """Every entity the query finds, in its order."""
        return to_entities(kind, await self._session.scalars(query))

    async def _by(
        self, kind: type[T], column: Any, value: object, for_update: bool = False
    ) -> T | None:
        """The entity whose `column` (a mapped attribute) equals `value`."""
        query = select(column.class_).where(column == value)
        return await self._one(kind, query, for_update)
