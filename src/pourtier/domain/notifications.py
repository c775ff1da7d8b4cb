"""In-app notifications: the facts a user should see, kept with the change.

A notification is written in the transaction of the fact it tells, like the
outbox's event. Notices the service sends on a schedule (renewal upcoming,
balance low) carry a `dedupe_key`, unique per user in the database, so a
period is told once however many workers look.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pourtier.domain.events import as_json


class NotificationKind(StrEnum):
    RENEWAL_UPCOMING = "renewal_upcoming"
    BALANCE_LOW = "balance_low"
    PAYMENT_COMPLETED = "payment_completed"
    PAYMENT_FAILED = "payment_failed"
    PAST_DUE = "past_due"
    EXPIRED = "expired"
    KYC_DECISION = "kyc_decision"
    LEGAL_VERSION = "legal_version"


@dataclass
class Notification:
    user_id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    read_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def of(
        cls,
        user_id: uuid.UUID,
        kind: NotificationKind,
        now: datetime,
        title: str,
        body: str,
        dedupe_key: str | None = None,
        **data: Any,
    ) -> Notification:
        return cls(user_id, kind, title, body, now, as_json(data), dedupe_key)


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    total: int
    unread: int


@dataclass(frozen=True)
class RenewalDue:
    """A live subscription whose renewal falls within the notice window."""

    subscription_id: uuid.UUID
    user_id: uuid.UUID
    period_end: datetime


def renewal_key(kind: NotificationKind, subscription_id: object, end: datetime) -> str:
    """One notice of a kind per subscription and period."""
    return f"{kind.value}:{subscription_id}:{int(end.timestamp())}"


class NotificationRepository(Protocol):
    async def add(self, notification: Notification) -> bool:
        """False if its `dedupe_key` was already used for this user."""
        ...

    async def add_for_acceptors(
        self, document_id: uuid.UUID, template: Notification
    ) -> int:
        """The template, once for every user who accepted `document_id`."""
        ...

    async def page(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> NotificationPage: ...

    async def mark_read(
        self, user_id: uuid.UUID, ids: list[uuid.UUID] | None, now: datetime
    ) -> int:
        """The user's notifications (those named, or all) read; how many changed."""
        ...

    async def renewals_due(
        self, now: datetime, until: datetime, limit: int
    ) -> list[RenewalDue]:
        """Live, renewing subscriptions ending in [now, until) not yet told."""
        ...
