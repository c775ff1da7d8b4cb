"""The hot reads, through the cache: each knows its key, its codec and its query.

Only reads that decide nothing are served from here (who is signed in, what
the profile and compliance pages show, what a subscription grants now). A use
case that changes data reads the rows it changes inside its own transaction.
Values are converted to plain JSON and back, never pickled.

Every value read here is read-only, whether it came from the database or the
cache: the process keeps one object per key and gives it to every request, so
entities are frozen copies (`frozen`), lists are tuples and sets frozensets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import FrozenInstanceError, dataclass, fields
from datetime import datetime
from typing import Any, Self, TypeVar, cast

from pourtier.application.common import UnitOfWorkFactory
from pourtier.domain.auth import AuthSession
from pourtier.domain.cache import (
    ACTIVE_DOCUMENTS_KEY,
    Cache,
    Codec,
    Json,
    accepted_documents_key,
    live_subscription_key,
    session_key,
    user_key,
)
from pourtier.domain.legal import DocumentStatus, DocumentType, LegalDocument
from pourtier.domain.subscriptions import PlanName, Subscription, SubscriptionStatus
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import KycStatus, User

T = TypeVar("T")


class CorruptEntry(ValueError):
    """A cached value does not have the shape its codec writes."""


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


# --- JSON helpers ----------------------------------------------------------------


def _object(raw: Json) -> dict[str, Json]:
    if not isinstance(raw, dict):
        raise CorruptEntry("expected a JSON object")
    return raw


def _list(raw: Json) -> list[Json]:
    if not isinstance(raw, list):
        raise CorruptEntry("expected a JSON array")
    return raw


def _text(raw: Json) -> str:
    if not isinstance(raw, str):
        raise CorruptEntry("expected a string")
    return raw


def _optional_text(raw: Json) -> str | None:
    return None if raw is None else _text(raw)


def _flag(raw: Json) -> bool:
    if not isinstance(raw, bool):
        raise CorruptEntry("expected a boolean")
    return raw


def _time(moment: datetime) -> str:
    return moment.isoformat()


def _optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(raw: Json) -> datetime:
    return datetime.fromisoformat(_text(raw))


def _parse_optional_time(raw: Json) -> datetime | None:
    return None if raw is None else _parse_time(raw)


def _uuid(raw: Json) -> uuid.UUID:
    return uuid.UUID(_text(raw))


# --- codecs ----------------------------------------------------------------------


def _encode_user(user: User) -> Json:
    return {
        "id": str(user.id),
        "wallet_address": user.wallet_address,
        "display_name": user.display_name,
        "email": user.email,
        "kyc_status": user.kyc_status.value,
        "created_at": _time(user.created_at),
        "updated_at": _time(user.updated_at),
        "last_login_at": _optional_time(user.last_login_at),
    }


def _decode_user(raw: Json) -> User:
    data = _object(raw)
    return frozen(
        User(
            id=_uuid(data["id"]),
            wallet_address=_text(data["wallet_address"]),
            display_name=_optional_text(data["display_name"]),
            email=_optional_text(data["email"]),
            kyc_status=KycStatus(_text(data["kyc_status"])),
            created_at=_parse_time(data["created_at"]),
            updated_at=_parse_time(data["updated_at"]),
            last_login_at=_parse_optional_time(data["last_login_at"]),
        )
    )


USER = Codec(_encode_user, _decode_user)


def _encode_session(session: AuthSession) -> Json:
    return {
        "id": str(session.id),
        "user_id": str(session.user_id),
        "created_at": _time(session.created_at),
        "ip_address": session.ip_address,
        "user_agent": session.user_agent,
        "revoked_at": _optional_time(session.revoked_at),
        "revoked_reason": session.revoked_reason,
    }


def _decode_session(raw: Json) -> AuthSession:
    data = _object(raw)
    return frozen(
        AuthSession(
            id=_uuid(data["id"]),
            user_id=_uuid(data["user_id"]),
            created_at=_parse_time(data["created_at"]),
            ip_address=_optional_text(data["ip_address"]),
            user_agent=_optional_text(data["user_agent"]),
            revoked_at=_parse_optional_time(data["revoked_at"]),
            revoked_reason=_optional_text(data["revoked_reason"]),
        )
    )


SESSION = Codec(_encode_session, _decode_session)


def _encode_documents(documents: tuple[LegalDocument, ...]) -> Json:
    return [
        {
            "id": str(doc.id),
            "document_type": doc.document_type.value,
            "version": doc.version,
            "title": doc.title,
            "content": doc.content,
            "content_sha256": doc.content_sha256,
            "status": doc.status.value,
            "effective_date": _time(doc.effective_date),
        }
        for doc in documents
    ]


def _decode_documents(raw: Json) -> tuple[LegalDocument, ...]:
    documents = []
    for item in _list(raw):
        data = _object(item)
        documents.append(
            frozen(
                LegalDocument(
                    id=_uuid(data["id"]),
                    document_type=DocumentType(_text(data["document_type"])),
                    version=_text(data["version"]),
                    title=_text(data["title"]),
                    content=_text(data["content"]),
                    content_sha256=_text(data["content_sha256"]),
                    status=DocumentStatus(_text(data["status"])),
                    effective_date=_parse_time(data["effective_date"]),
                )
            )
        )
    return tuple(documents)


DOCUMENTS = Codec(_encode_documents, _decode_documents)


def _encode_ids(ids: frozenset[uuid.UUID]) -> Json:
    encoded: list[Json] = [str(i) for i in sorted(ids)]
    return encoded


def _decode_ids(raw: Json) -> frozenset[uuid.UUID]:
    return frozenset(_uuid(item) for item in _list(raw))


IDS = Codec(_encode_ids, _decode_ids)


@dataclass(frozen=True)
class LiveSubscription:
    """The user's live subscription, or the fact that there is none."""

    subscription: Subscription | None


def _encode_live(live: LiveSubscription) -> Json:
    sub = live.subscription
    if sub is None:
        return {"live": None}
    return {
        "live": {
            "id": str(sub.id),
            "user_id": str(sub.user_id),
            "plan": sub.plan.value,
            "status": sub.status.value,
            "current_period_start": _time(sub.current_period_start),
            "current_period_end": _time(sub.current_period_end),
            "created_at": _time(sub.created_at),
            "updated_at": _time(sub.updated_at),
            "auto_renew": sub.auto_renew,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "scheduled_plan": sub.scheduled_plan.value if sub.scheduled_plan else None,
            "canceled_at": _optional_time(sub.canceled_at),
        }
    }


def _decode_live(raw: Json) -> LiveSubscription:
    found = _object(raw)["live"]
    if found is None:
        return LiveSubscription(None)
    data = _object(found)
    scheduled = _optional_text(data["scheduled_plan"])
    return LiveSubscription(
        frozen(
            Subscription(
                id=_uuid(data["id"]),
                user_id=_uuid(data["user_id"]),
                plan=PlanName(_text(data["plan"])),
                status=SubscriptionStatus(_text(data["status"])),
                current_period_start=_parse_time(data["current_period_start"]),
                current_period_end=_parse_time(data["current_period_end"]),
                created_at=_parse_time(data["created_at"]),
                updated_at=_parse_time(data["updated_at"]),
                auto_renew=_flag(data["auto_renew"]),
                cancel_at_period_end=_flag(data["cancel_at_period_end"]),
                scheduled_plan=PlanName(scheduled) if scheduled else None,
                canceled_at=_parse_optional_time(data["canceled_at"]),
            )
        )
    )


LIVE_SUBSCRIPTION = Codec(_encode_live, _decode_live)


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
