"""SQLAlchemy tables. Alembic migrations build the schema; a test keeps them equal."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)
KYC_STATUSES = "'not_started', 'pending', 'in_review', 'verified', 'rejected'"


def _refers_to(column: str, ondelete: str, **options: Any) -> MappedColumn[Any]:
    return mapped_column(ForeignKey(column, ondelete=ondelete), **options)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            f"kyc_status IN ({KYC_STATUSES})",
            name="kyc_status",
        ),
        CheckConstraint("role IN ('user', 'admin')", name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    wallet_address: Mapped[str] = mapped_column(String(44), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    kyc_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)
    last_login_at: Mapped[datetime | None] = mapped_column(TZ)
    role: Mapped[str] = mapped_column(String(16), server_default="user")


class UserWalletRow(Base):
    """Every wallet of every account, the primary too: the primary key is the
    one constraint that keeps a wallet to one account."""

    __tablename__ = "user_wallets"
    __table_args__ = (Index("ix_user_wallets_user_id", "user_id"),)

    wallet_address: Mapped[str] = mapped_column(String(44), primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "CASCADE")
    linked_at: Mapped[datetime] = mapped_column(TZ)


class LegalDocumentRow(Base):
    __tablename__ = "legal_documents"
    __table_args__ = (
        CheckConstraint(
            "document_type IN ('terms_of_service', 'privacy_policy', "
            "'risk_disclosure')",
            name="document_type",
        ),
        CheckConstraint("status IN ('active', 'archived')", name="status"),
        Index(
            "uq_legal_documents_one_active_per_type",
            "document_type",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index(
            "uq_legal_documents_type_version", "document_type", "version", unique=True
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_type: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[datetime] = mapped_column(TZ)


class LegalAcceptanceRow(Base):
    """Append-only: rows are inserted, never updated or deleted.

    One row per user and document version: accepting again changes nothing.
    """

    __tablename__ = "legal_acceptances"
    __table_args__ = (
        Index(
            "uq_legal_acceptances_user_document",
            "user_id",
            "document_id",
            unique=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    document_id: Mapped[uuid.UUID] = _refers_to("legal_documents.id", "RESTRICT")
    document_version: Mapped[str] = mapped_column(String(32))
    content_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(TZ)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class AuthNonceRow(Base):
    __tablename__ = "auth_nonces"
    __table_args__ = (
        Index("ix_auth_nonces_expires_at", "expires_at"),
        CheckConstraint("purpose IN ('sign_in', 'link')", name="purpose"),
    )

    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    wallet_address: Mapped[str | None] = mapped_column(String(44))
    issued_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    consumed_at: Mapped[datetime | None] = mapped_column(TZ)
    purpose: Mapped[str] = mapped_column(String(16), server_default="sign_in")


class AuthSessionRow(Base):
    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "CASCADE")
    created_at: Mapped[datetime] = mapped_column(TZ)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    last_used_at: Mapped[datetime | None] = mapped_column(TZ)


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_session_id", "session_id"),
        Index("ix_refresh_tokens_parent_id", "parent_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    session_id: Mapped[uuid.UUID] = _refers_to("auth_sessions.id", "CASCADE")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[uuid.UUID | None] = _refers_to("refresh_tokens.id", "CASCADE")
    issued_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    used_at: Mapped[datetime | None] = mapped_column(TZ)


U64 = Numeric(20, 0)


class EscrowTransactionRow(Base):
    __tablename__ = "escrow_transactions"
    __table_args__ = (
        CheckConstraint(
            "type IN ('initialize', 'deposit', 'withdraw', 'subscription_charge', "
            "'external_deposit', 'external_withdrawal')",
            name="type",
        ),
        CheckConstraint(
            "prepared_transaction IS NOT NULL "
            "OR type IN ('external_deposit', 'external_withdrawal')",
            name="prepared_unless_external",
        ),
        CheckConstraint(
            "status IN ('prepared', 'pending', 'confirmed', 'failed', 'expired')",
            name="status",
        ),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_escrow_transactions_user_created", "user_id", "created_at"),
        Index(
            "ix_escrow_transactions_pending",
            "status",
            postgresql_where=text("status IN ('prepared', 'pending')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    wallet_address: Mapped[str] = mapped_column(String(44))
    type: Mapped[str] = mapped_column(String(24))
    amount: Mapped[Decimal] = mapped_column(U64)
    status: Mapped[str] = mapped_column(String(16))
    prepared_transaction: Mapped[bytes | None] = mapped_column(LargeBinary)
    signed_transaction: Mapped[bytes | None] = mapped_column(LargeBinary)
    signature: Mapped[str | None] = mapped_column(String(88), unique=True)
    last_valid_block_height: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    submitted_at: Mapped[datetime | None] = mapped_column(TZ)
    confirmed_at: Mapped[datetime | None] = mapped_column(TZ)
    error: Mapped[str | None] = mapped_column(String(500))


class EscrowCursorRow(Base):
    """Per escrow: the last signature of its history the follower has read."""

    __tablename__ = "escrow_cursors"
    __table_args__ = (Index("ix_escrow_cursors_read_at", "read_at"),)

    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "CASCADE", primary_key=True)
    last_signature: Mapped[str | None] = mapped_column(String(88))
    read_at: Mapped[datetime | None] = mapped_column(TZ)


class LedgerEntryRow(Base):
    """Append-only; unique per escrow transaction, so nothing is credited twice."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    escrow_transaction_id: Mapped[uuid.UUID] = _refers_to(
        "escrow_transactions.id", "RESTRICT", unique=True
    )
    delta: Mapped[Decimal] = mapped_column(Numeric(21, 0))
    created_at: Mapped[datetime] = mapped_column(TZ)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint("plan IN ('basic', 'pro')", name="plan"),
        CheckConstraint(
            "scheduled_plan IS NULL OR scheduled_plan IN ('basic', 'pro')",
            name="scheduled_plan",
        ),
        CheckConstraint(
            "status IN ('pending', 'active', 'past_due', 'canceled', 'expired')",
            name="status",
        ),
        Index(
            "uq_subscriptions_one_live_per_user",
            "user_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'active', 'past_due')"),
        ),
        Index("ix_subscriptions_period_end", "current_period_end"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    plan: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    current_period_start: Mapped[datetime] = mapped_column(TZ)
    current_period_end: Mapped[datetime] = mapped_column(TZ)
    auto_renew: Mapped[bool] = mapped_column(Boolean)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean)
    scheduled_plan: Mapped[str | None] = mapped_column(String(16))
    canceled_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)


class SubscriptionChargeRow(Base):
    """One charge per subscription, kind and period: the unique index says so."""

    __tablename__ = "subscription_charges"
    __table_args__ = (
        CheckConstraint("kind IN ('initial', 'renewal', 'upgrade')", name="kind"),
        CheckConstraint("plan IN ('basic', 'pro')", name="plan"),
        CheckConstraint("status IN ('pending', 'confirmed', 'failed')", name="status"),
        Index(
            "uq_subscription_charges_period",
            "subscription_id",
            "kind",
            "period_start",
            unique=True,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subscription_id: Mapped[uuid.UUID] = _refers_to("subscriptions.id", "RESTRICT")
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZ)
    amount: Mapped[Decimal] = mapped_column(U64)
    plan: Mapped[str] = mapped_column(String(16))  # what the charge pays for
    status: Mapped[str] = mapped_column(String(16))
    escrow_transaction_id: Mapped[uuid.UUID | None] = _refers_to(
        "escrow_transactions.id", "RESTRICT", unique=True
    )
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "CASCADE", primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TZ)


class KycCaseRow(Base):
    """A user's KYC as it stands; its history is in kyc_events."""

    __tablename__ = "kyc_cases"
    __table_args__ = (
        CheckConstraint(f"status IN ({KYC_STATUSES})", name="status"),
        CheckConstraint(
            "rejection_type IS NULL OR rejection_type IN ('retry', 'final')",
            name="rejection_type",
        ),
        Index("ix_kyc_cases_status_status_at", "status", "status_at"),
    )

    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT", primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[datetime | None] = mapped_column(TZ)
    applicant_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    rejection_type: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))
    personal_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)


class KycEventRow(Base):
    """Append-only (a trigger refuses UPDATE and DELETE); unique per provider
    event id, so a repeated webhook is recorded once."""

    __tablename__ = "kyc_events"
    __table_args__ = (
        CheckConstraint(f"status IN ({KYC_STATUSES})", name="status"),
        Index("ix_kyc_events_user_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(TZ)
    recorded_at: Mapped[datetime] = mapped_column(TZ)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    rejection_type: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))


class AuditLogRow(Base):
    """Append-only: a trigger (migration 0007) refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("actor_type IN ('user', 'cli')", name="actor_type"),
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_actor_id", "actor_id"),
        Index("ix_audit_log_action", "action"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(TZ)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_wallet: Mapped[str | None] = mapped_column(String(44))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip_address: Mapped[str | None] = mapped_column(String(64))


class EventSubjectRow(Base):
    """Per subject, the sequence number of its latest event."""

    __tablename__ = "event_subjects"

    subject_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)


class OutboxEventRow(Base):
    """Every event, written with the change it reports (see domain/events.py)."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "uq_outbox_events_subject_sequence",
            "subject_type",
            "subject_id",
            "sequence",
            unique=True,
        ),
        Index("ix_outbox_events_occurred_at", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(TZ)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ReceiptCounterRow(Base):
    """The receipt book's last number, bumped and held until commit."""

    __tablename__ = "receipt_counters"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)


class ReceiptRow(Base):
    """One per confirmed charge (unique), numbered without gaps (unique)."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("kind IN ('initial', 'renewal', 'upgrade')", name="kind"),
        CheckConstraint("plan IN ('basic', 'pro')", name="plan"),
        Index("ix_receipts_user_issued", "user_id", "issued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "RESTRICT")
    subscription_id: Mapped[uuid.UUID] = _refers_to("subscriptions.id", "RESTRICT")
    charge_id: Mapped[uuid.UUID] = _refers_to(
        "subscription_charges.id", "RESTRICT", unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZ)
    period_end: Mapped[datetime] = mapped_column(TZ)
    amount: Mapped[Decimal] = mapped_column(U64)
    signature: Mapped[str] = mapped_column(String(88))
    issued_at: Mapped[datetime] = mapped_column(TZ)


class NotificationRow(Base):
    """What a user sees in the app (see domain/notifications.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("uq_notifications_dedupe_key", "dedupe_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = _refers_to("users.id", "CASCADE")
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(TZ)
    read_at: Mapped[datetime | None] = mapped_column(TZ)


class WebhookEndpointRow(Base):
    """A consumer's URL, the event types it wants (none: all) and its secrets."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret: Mapped[str] = mapped_column(String(64))
    previous_secret: Mapped[str | None] = mapped_column(String(64))
    previous_secret_until: Mapped[datetime | None] = mapped_column(TZ)
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    failing_since: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)


class EventDeliveryRow(Base):
    """One event to one sink (see infrastructure/persistence/deliveries.py)."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'disabled')", name="status"
        ),
        UniqueConstraint("event_id", "sink"),
        Index(
            "ix_event_deliveries_subject",
            "sink",
            "subject_type",
            "subject_id",
            "sequence",
        ),
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = _refers_to("outbox_events.id", "CASCADE")
    sink: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[uuid.UUID | None] = _refers_to(
        "webhook_endpoints.id", "CASCADE", index=True
    )
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
