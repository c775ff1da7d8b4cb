"""Platform events: what happened, told to the rest of the platform.

An event is written to the outbox in the transaction of the change it
reports, so it exists exactly when the change committed. Each subject (a
user, a subscription, an escrow transaction) numbers its events 1, 2, 3...
in commit order; consumers dedupe by `id` and order by `sequence`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

PAYLOAD_VERSION = 1


class EventType(StrEnum):
    USER_REGISTERED = "user.registered"
    USER_UPDATED = "user.updated"
    LEGAL_ACCEPTED = "legal.accepted"
    KYC_STATUS_CHANGED = "kyc.status_changed"
    SESSION_REVOKED = "session.revoked"
    WALLET_LINKED = "wallet.linked"
    WALLET_UNLINKED = "wallet.unlinked"
    ESCROW_INITIALIZED = "escrow.initialized"
    ESCROW_DEPOSIT_CONFIRMED = "escrow.deposit_confirmed"
    ESCROW_WITHDRAWAL_CONFIRMED = "escrow.withdrawal_confirmed"
    ESCROW_TRANSACTION_FAILED = "escrow.transaction_failed"
    ESCROW_BALANCE_LOW = "escrow.balance_low"
    SUBSCRIPTION_ACTIVATED = "subscription.activated"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_PLAN_CHANGED = "subscription.plan_changed"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    SUBSCRIPTION_EXPIRED = "subscription.expired"
    SUBSCRIPTION_RENEWAL_UPCOMING = "subscription.renewal_upcoming"
    PAYMENT_COMPLETED = "payment.completed"
    PAYMENT_FAILED = "payment.failed"

    @property
    def channel(self) -> str:
        """Courier's channel: the type's first word (`subscription`, ...)."""
        return self.value.partition(".")[0]


@dataclass(frozen=True)
class Event:
    type: EventType
    subject_type: str
    subject_id: str
    occurred_at: datetime
    data: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    sequence: int = 0
    """Set by the outbox: the event's place among its subject's."""

    @classmethod
    def of(
        cls,
        type: EventType,
        subject: tuple[str, object],
        now: datetime,
        **data: Any,
    ) -> Event:
        """An event about `subject` (`("user", user.id)`), its data as JSON."""
        kind, subject_id = subject
        return cls(type, kind, str(subject_id), now, as_json(data))

    @classmethod
    def about_user(
        cls, type: EventType, user_id: uuid.UUID, now: datetime, **data: Any
    ) -> Event:
        """An event whose subject is a user (its data names them too)."""
        return cls.of(type, ("user", user_id), now, user_id=user_id, **data)

    def envelope(self) -> dict[str, Any]:
        """What leaves the service, identical on every retry."""
        return {
            "id": str(self.id),
            "type": self.type.value,
            "version": PAYLOAD_VERSION,
            "occurred_at": self.occurred_at.isoformat(),
            "subject": {"type": self.subject_type, "id": self.subject_id},
            "sequence": self.sequence,
            "data": self.data,
        }


def as_json(value: Any) -> Any:
    """Data as plain JSON: ids and times as strings, enums as their values."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


class Outbox(Protocol):
    async def add(self, event: Event) -> Event:
        """Append in the current transaction; the event with its sequence."""
        ...
