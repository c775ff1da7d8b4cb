"""Cached reads: the port use cases read through, and the names of what is cached.

A value is cached as JSON (never pickled), under a key naming the rows it was
read from. The database announces every change of such a row under the same
key (the triggers of migration 0003), so the names here and there must agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Protocol, TypeAlias

Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | float | bool | None
Load = Callable[[], Awaitable[Json]]

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
    async def get_or_load(self, key: str, load: Load) -> Json:
        """The cached value of `key`, else what `load` returns (kept unless None)."""
        ...

    async def invalidate(self, keys: Collection[str]) -> None:
        """Forget these keys everywhere this process can reach, after a commit."""
        ...


class NoCache:
    """Every read goes to the database; for use cases built without a cache."""

    async def get_or_load(self, key: str, load: Load) -> Json:
        return await load()

    async def invalidate(self, keys: Collection[str]) -> None:
        return None
