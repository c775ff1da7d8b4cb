"""Cached reads: the port use cases read through, and the names of what is cached.

A value is cached under a key naming the rows it was read from: in this
process's memory as the read-only object it decodes to, and shared between
processes as JSON (never pickled), written and read by the key's `Codec`.
The database announces every change of such a row under the same key (the
triggers of migration 0003), so the names here and there must agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Generic, Protocol, TypeAlias, TypeVar

Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
T = TypeVar("T")
Load: TypeAlias = Callable[[], Awaitable[T | None]]


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a cached value is written to and read from the shared (JSON) level.

    `decode` must return a value no caller can change (frozen, tuples,
    frozensets): the process keeps it and hands the same object to every reader.
    """

    encode: Callable[[T], Json]
    decode: Callable[[Json], T]


def _same(value: Json) -> Json:
    return value


AS_JSON: Codec[Json] = Codec(_same, _same)
"""Values that are JSON already (tests, simple values): kept as they are."""

ACTIVE_DOCUMENTS_KEY = "legal:active"
EVERYTHING = "*"
"""Invalidating this key drops every cached value (a table was truncated)."""


def user_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def session_key(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


def accepted_documents_key(user_id: uuid.UUID) -> str:
    return f"accepted:{user_id}"


def live_subscription_key(user_id: uuid.UUID) -> str:
    return f"subscription:{user_id}"


class Cache(Protocol):
    async def get_or_load(self, key: str, load: Load[T], codec: Codec[T]) -> T | None:
        """The cached value of `key`, else what `load` returns (kept unless None).

        A key is always read with the same codec.
        """
        ...

    async def invalidate(self, keys: Collection[str]) -> None:
        """Forget these keys everywhere this process can reach, after a commit."""
        ...


class NoCache:
    """Every read goes to the database; for use cases built without a cache."""

    async def get_or_load(self, key: str, load: Load[T], codec: Codec[T]) -> T | None:
        return await load()

    async def invalidate(self, keys: Collection[str]) -> None:
        return None
