"""The audit log: who did what to whom, appended by every operator action.

Entries are written in the transaction of the action they record, so an
action and its entry are committed together or not at all. Nothing in the
service updates or deletes an entry; the database refuses it too (a trigger,
migration 0007).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pourtier.domain.users import User

AUDIT_ACTION_MAX_LENGTH = 64


class ActorType(StrEnum):
    """An admin through the API (`user`), or an operator's shell (`cli`)."""

    USER = "user"
    CLI = "cli"


class AuditAction(StrEnum):
    ROLE_GRANT = "role.grant"
    ROLE_REVOKE = "role.revoke"
    SESSIONS_REVOKE = "sessions.revoke"
    LEGAL_PUBLISH = "legal.publish"
    KYC_DECISION = "kyc.decision"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_ROTATE = "webhook.rotate"
    WEBHOOK_UPDATE = "webhook.update"
    EVENT_REDELIVER = "event.redeliver"


@dataclass(frozen=True)
class Actor:
    """Who is acting, as the entry records them: handed in by the caller (the
    route knows the request id and client address; the CLI knows itself)."""

    type: ActorType
    id: uuid.UUID | None = None
    wallet: str | None = None
    request_id: str | None = None
    ip_address: str | None = None

    @classmethod
    def admin(cls, user: User, request_id: str | None, ip_address: str | None) -> Actor:
        return cls(ActorType.USER, user.id, user.wallet_address, request_id, ip_address)

    @classmethod
    def cli(cls) -> Actor:
        return cls(ActorType.CLI)


Target = tuple[str, object]
"""What an action was done to: its kind and id, `("user", user.id)`."""
Summary = dict[str, Any]
"""A JSON object of the fields an action changed, before or after it."""


@dataclass
class AuditEntry:
    occurred_at: datetime
    actor_type: ActorType
    action: str
    target_type: str
    target_id: str | None = None
    actor_id: uuid.UUID | None = None
    actor_wallet: str | None = None
    before: Summary | None = None
    after: Summary | None = None
    request_id: str | None = None
    ip_address: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def of(
        cls, actor: Actor, action: AuditAction, target: Target, now: datetime
    ) -> AuditEntry:
        """An entry of `action` by `actor` on `target` (`("user", id)`)."""
        target_type, target_id = target
        return cls(
            now,
            actor.type,
            action.value,
            target_type,
            None if target_id is None else str(target_id),
            actor.id,
            actor.wallet,
            request_id=actor.request_id,
            ip_address=actor.ip_address,
        )

    def changed(self, before: Summary | None, after: Summary | None) -> AuditEntry:
        """The entry with what the action changed, before and after."""
        return replace(self, before=before, after=after)


@dataclass(frozen=True)
class AuditQuery:
    """`actor`: a user id, a wallet, or `cli`; `action`: exactly. Newest first."""

    actor: str | None = None
    action: str | None = None
    limit: int = 50
    offset: int = 0


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> None: ...

    async def find(self, query: AuditQuery) -> list[AuditEntry]: ...
