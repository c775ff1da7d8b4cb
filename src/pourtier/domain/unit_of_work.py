"""The transaction boundary use cases own: one commit per business workflow."""

from __future__ import annotations

from typing import Protocol, Self

from pourtier.domain.audit import AuditLog
from pourtier.domain.auth import NonceRepository, SessionRepository
from pourtier.domain.deliveries import DeliveryRepository, WebhookRepository
from pourtier.domain.escrow import EscrowRepository
from pourtier.domain.events import Outbox
from pourtier.domain.kyc import KycRepository
from pourtier.domain.legal import LegalRepository
from pourtier.domain.notifications import NotificationRepository
from pourtier.domain.receipts import ReceiptRepository
from pourtier.domain.subscriptions import SubscriptionRepository
from pourtier.domain.users import UserRepository


class UnitOfWork(Protocol):
    users: UserRepository
    legal: LegalRepository
    nonces: NonceRepository
    sessions: SessionRepository
    escrow: EscrowRepository
    kyc: KycRepository
    outbox: Outbox
    notifications: NotificationRepository
    deliveries: DeliveryRepository
    webhooks: WebhookRepository
    subscriptions: SubscriptionRepository
    receipts: ReceiptRepository
    audit: AuditLog

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Roll back anything not committed."""
        ...

    async def commit(self) -> None: ...
