"""SQLAlchemy tables. Alembic migrations build the schema; a test keeps them equal.

The tables by domain, in the modules of this package."""

from pourtier.infrastructure.persistence.models.accounts import (
    AuthNonceRow,
    AuthSessionRow,
    LegalAcceptanceRow,
    LegalDocumentRow,
    RefreshTokenRow,
    UserRow,
)
from pourtier.infrastructure.persistence.models.base import NAMING, TZ, Base
from pourtier.infrastructure.persistence.models.money import (
    EscrowCursorRow,
    EscrowTransactionRow,
    IdempotencyKeyRow,
    LedgerEntryRow,
    ReceiptCounterRow,
    ReceiptRow,
    SubscriptionChargeRow,
    SubscriptionRow,
)
from pourtier.infrastructure.persistence.models.operations import (
    AuditLogRow,
    EventDeliveryRow,
    EventSubjectRow,
    KycCaseRow,
    KycEventRow,
    NotificationRow,
    OutboxEventRow,
    WebhookEndpointRow,
)

__all__ = [
    "NAMING",
    "TZ",
    "AuditLogRow",
    "AuthNonceRow",
    "AuthSessionRow",
    "Base",
    "EscrowCursorRow",
    "EscrowTransactionRow",
    "EventDeliveryRow",
    "EventSubjectRow",
    "IdempotencyKeyRow",
    "KycCaseRow",
    "KycEventRow",
    "LedgerEntryRow",
    "LegalAcceptanceRow",
    "LegalDocumentRow",
    "NotificationRow",
    "OutboxEventRow",
    "ReceiptCounterRow",
    "ReceiptRow",
    "RefreshTokenRow",
    "SubscriptionChargeRow",
    "SubscriptionRow",
    "UserRow",
    "WebhookEndpointRow",
]
