"""The hot reads, through the cache: each knows its key, its codec and its query.

Only reads that decide nothing are served from here (who is signed in, what
the profile and compliance pages show, what a subscription grants now). A use
case that changes data reads the rows it changes inside its own transaction.
Values are converted to plain JSON and back, never pickled.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pourtier.application.common import UnitOfWorkFactory
from pourtier.domain.auth import AuthSession
from pourtier.domain.cache import (
    ACTIVE_DOCUMENTS_KEY,
    Cache,
    Json,
    accepted_documents_key,
    live_subscription_key,
    session_key,
    user_key,
)
from pourtier.domain.legal import DocumentStatus, DocumentType, LegalDocument
from pourtier.domain.subscriptions import PlanName, Subscription, SubscriptionStatus
from pourtier.domain.users import KycStatus, User

T = TypeVar("T")


class CorruptEntry(ValueError):
    """A cached value does not have the shape its codec writes."""


@dataclass(frozen=True)
class Codec(Generic[T]):
    encode: Callable[[T], Json]
    decode: Callable[[Json], T]


async def read_through(
    cache: Cache,
    key: str,
    load: Callable[[], Awaitable[T | None]],
    codec: Codec[T],
) -> T | None:
    """The value under `key`, else `load()`'s, which is then cached (unless None)."""

    async def load_json() -> Json:
        value = await load()
        return None if value is None else codec.encode(value)

    raw = await cache.get_or_load(key, load_json)
    return None if raw is None else codec.decode(raw)


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
    return User(
        id=_uuid(data["id"]),
        wallet_address=_text(data["wallet_address"]),
        display_name=_optional_text(data["display_name"]),
        email=_optional_text(data["email"]),
        kyc_status=KycStatus(_text(data["kyc_status"])),
        created_at=_parse_time(data["created_at"]),
        updated_at=_parse_time(data["updated_at"]),
        last_login_at=_parse_optional_time(data["last_login_at"]),
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
    return AuthSession(
        id=_uuid(data["id"]),
        user_id=_uuid(data["user_id"]),
        created_at=_parse_time(data["created_at"]),
        ip_address=_optional_text(data["ip_address"]),
        user_agent=_optional_text(data["user_agent"]),
        revoked_at=_parse_optional_time(data["revoked_at"]),
        revoked_reason=_optional_text(data["revoked_reason"]),
    )


SESSION = Codec(_encode_session, _decode_session)


def _encode_documents(documents: list[LegalDocument]) -> Json:
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


def _decode_documents(raw: Json) -> list[LegalDocument]:
    documents = []
    for item in _list(raw):
        data = _object(item)
        documents.append(
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
    return documents


DOCUMENTS = Codec(_encode_documents, _decode_documents)


def _encode_ids(ids: set[uuid.UUID]) -> Json:
    encoded: list[Json] = [str(i) for i in sorted(ids)]
    return encoded


def _decode_ids(raw: Json) -> set[uuid.UUID]:
    return {_uuid(item) for item in _list(raw)}


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


LIVE_SUBSCRIPTION = Codec(_encode_live, _decode_live)


# --- the reads -------------------------------------------------------------------


@dataclass(frozen=True)
class CachedReads:
    uow: UnitOfWorkFactory
    cache: Cache

    async def user(self, user_id: uuid.UUID) -> User | None:
        async def load() -> User | None:
            async with self.uow() as uow:
                return await uow.users.get(user_id)

        return await read_through(self.cache, user_key(user_id), load, USER)

    async def session(self, session_id: uuid.UUID) -> AuthSession | None:
        async def load() -> AuthSession | None:
            async with self.uow() as uow:
                return await uow.sessions.get_session(session_id)

        return await read_through(self.cache, session_key(session_id), load, SESSION)

    async def active_documents(self) -> list[LegalDocument]:
        async def load() -> list[LegalDocument]:
            async with self.uow() as uow:
                return await uow.legal.active_documents()

        found = await read_through(self.cache, ACTIVE_DOCUMENTS_KEY, load, DOCUMENTS)
        return found or []

    async def accepted_document_ids(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        async def load() -> set[uuid.UUID]:
            async with self.uow() as uow:
                return await uow.legal.accepted_document_ids(user_id)

        key = accepted_documents_key(user_id)
        return await read_through(self.cache, key, load, IDS) or set()

    async def live_subscription(self, user_id: uuid.UUID) -> Subscription | None:
        async def load() -> LiveSubscription:
            async with self.uow() as uow:
                return LiveSubscription(await uow.subscriptions.live_for_user(user_id))

        key = live_subscription_key(user_id)
        found = await read_through(self.cache, key, load, LIVE_SUBSCRIPTION)
        return found.subscription if found else None
