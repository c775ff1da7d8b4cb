"""The hot reads, through the cache: each knows its key, its codec and its query.

Only reads that decide nothing are served from here (who is signed in, what
the profile and compliance pages show, what a subscription grants now). A use
case that changes data reads the rows it changes inside its own transaction.
Values are converted to plain JSON and back by their types, never pickled.

Every value read here is read-only, whether it came from the database or the
cache: the process keeps one object per key and gives it to every request, so
entities are frozen copies (`frozen`), lists are tuples and sets frozensets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import FrozenInstanceError, dataclass, field, fields
from typing import Any, Self, TypeVar, cast

from pydantic import TypeAdapter

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.domain.auth import AuthSession
from pourtier.domain.cache import (
    ACTIVE_DOCUMENTS_KEY,
    Cache,
    Codec,
    Json,
    NoCache,
    accepted_documents_key,
    live_subscription_key,
    session_key,
    user_key,
)
from pourtier.domain.legal import LegalDocument
from pourtier.domain.subscriptions import Subscription
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import User

T = TypeVar("T")


def _read_only(entity: type[T]) -> type[T]:
    """A subclass of the dataclass `entity` whose instances refuse any change.

    Still an `entity` for every reader (and equal to one with the same
    fields); its mutating methods raise `FrozenInstanceError`.
    """
    names = tuple(f.name for f in fields(cast(Any, entity)))

    def refuse(self: object, name: str, *_: object) -> None:
        raise FrozenInstanceError(f"a cached {entity.__name__} is read-only: {name}")

    def equal(self: object, other: object) -> bool:
        if not isinstance(other, entity):
            return False
        return all(bool(getattr(self, n) == getattr(other, n)) for n in names)

    namespace = {"__setattr__": refuse, "__delattr__": refuse, "__eq__": equal}
    return cast(type[T], type(f"ReadOnly{entity.__name__}", (entity,), namespace))


_READ_ONLY: dict[type, type] = {
    cls: _read_only(cls) for cls in (User, AuthSession, LegalDocument, Subscription)
}
_READ_ONLY_KINDS = frozenset(_READ_ONLY.values())
_FIELDS = {kind: [f.name for f in fields(kind)] for kind in _READ_ONLY_KINDS}


def frozen(entity: T) -> T:
    """A read-only copy of a User, AuthSession, LegalDocument or Subscription."""
    kind = type(entity)
    if kind in _READ_ONLY_KINDS:
        return entity
    read_only = _READ_ONLY[kind]
    copy: object = object.__new__(read_only)
    copy.__dict__.update({name: getattr(entity, name) for name in _FIELDS[read_only]})
    return cast(T, copy)


# --- codecs ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSubscription:
    """The user's live subscription, or the fact that there is none."""

    subscription: Subscription | None


def _codec(kind: Any, freeze: Callable[[T], T]) -> Codec[T]:
    """JSON written and read by the value's own type (its dataclass fields).

    A value that does not have that shape fails with a `ValueError`, which
    the cache takes for a miss.
    """
    adapter: TypeAdapter[T] = TypeAdapter(kind)

    def encode(value: T) -> Json:
        encoded: Json = adapter.dump_python(value, mode="json")
        return encoded

    def decode(raw: Json) -> T:
        return freeze(adapter.validate_python(raw))

    return Codec(encode, decode)


def _frozen_live(live: LiveSubscription) -> LiveSubscription:
    found = live.subscription
    return LiveSubscription(None if found is None else frozen(found))


def _frozen_all(documents: tuple[LegalDocument, ...]) -> tuple[LegalDocument, ...]:
    return tuple(frozen(document) for document in documents)


def _as_is(ids: frozenset[uuid.UUID]) -> frozenset[uuid.UUID]:
    return ids


USER: Codec[User] = _codec(User, frozen)
SESSION: Codec[AuthSession] = _codec(AuthSession, frozen)
DOCUMENTS = _codec(tuple[LegalDocument, ...], _frozen_all)
IDS = _codec(frozenset[uuid.UUID], _as_is)
LIVE_SUBSCRIPTION = _codec(LiveSubscription, _frozen_live)


# --- the reads -------------------------------------------------------------------


class CachedReads:
    """The cached reads of one use case.

    Inside `async with CachedReads(...) as reads:` the reads that miss share
    one read transaction, opened at the first miss and closed when the block
    ends (outside a block, each miss has its own). Read committed: each query
    sees what was committed before it started, after its key's load began.
    """

    def __init__(self, uow: UnitOfWorkFactory, cache: Cache) -> None:
        self._factory = uow
        self.cache = cache
        self._shared = False
        self._open: AsyncExitStack | None = None
        self._uow: UnitOfWork | None = None
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> Self:
        self._shared = True
        return self

    async def __aexit__(self, *_: object) -> None:
        self._shared = False
        if self._open is not None and self._lock is not None:
            # A load runs in its own task; if our waiter was cancelled, let
            # it finish with the transaction before closing it.
            async with self._lock:
                opened, self._open, self._uow = self._open, None, None
                await opened.aclose()

    async def _query(self, query: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        if not self._shared:
            async with self._factory() as uow:
                return await query(uow)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._uow is None:
                self._open = AsyncExitStack()
                self._uow = await self._open.enter_async_context(self._factory())
            return await query(self._uow)

    async def user(self, user_id: uuid.UUID) -> User | None:
        async def load() -> User | None:
            found = await self._query(lambda uow: uow.users.get(user_id))
            return None if found is None else frozen(found)

        return await self.cache.get_or_load(user_key(user_id), load, USER)

    async def session(self, session_id: uuid.UUID) -> AuthSession | None:
        async def load() -> AuthSession | None:
            found = await self._query(lambda uow: uow.sessions.get_session(session_id))
            return None if found is None else frozen(found)

        return await self.cache.get_or_load(session_key(session_id), load, SESSION)

    async def active_documents(self) -> tuple[LegalDocument, ...]:
        async def load() -> tuple[LegalDocument, ...]:
            found = await self._query(lambda uow: uow.legal.active_documents())
            return tuple(frozen(document) for document in found)

        key = ACTIVE_DOCUMENTS_KEY
        return await self.cache.get_or_load(key, load, DOCUMENTS) or ()

    async def accepted_document_ids(self, user_id: uuid.UUID) -> frozenset[uuid.UUID]:
        async def load() -> frozenset[uuid.UUID]:
            found = await self._query(
                lambda uow: uow.legal.accepted_document_ids(user_id)
            )
            return frozenset(found)

        key = accepted_documents_key(user_id)
        return await self.cache.get_or_load(key, load, IDS) or frozenset()

    async def live_subscription(self, user_id: uuid.UUID) -> Subscription | None:
        async def load() -> LiveSubscription:
            found = await self._query(
                lambda uow: uow.subscriptions.live_for_user(user_id)
            )
            return LiveSubscription(None if found is None else frozen(found))

        key = live_subscription_key(user_id)
        found = await self.cache.get_or_load(key, load, LIVE_SUBSCRIPTION)
        return found.subscription if found else None


@dataclass
class ReadsThroughCache:
    """The base of use cases that read through the cache."""

    uow: UnitOfWorkFactory
    clock: Clock
    cache: Cache = field(default_factory=NoCache)

    @property
    def _reads(self) -> CachedReads:
        return CachedReads(self.uow, self.cache)
