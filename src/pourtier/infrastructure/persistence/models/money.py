"""Escrow transactions, the ledger, subscriptions, their charges and receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import (
    TZ,
    Base,
    refers_to,
)

U64 = Numeric(20, 0)
"""A u64 amount in base units: it does not fit BIGINT."""


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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
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

    user_id: Mapped[uuid.UUID] = refers_to("users.id", "CASCADE", primary_key=True)
    last_signature: Mapped[str | None] = mapped_column(String(88))
    read_at: Mapped[datetime | None] = mapped_column(TZ)


class LedgerEntryRow(Base):
    """Append-only; unique per escrow transaction, so nothing is credited twice."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
    escrow_transaction_id: Mapped[uuid.UUID] = refers_to(
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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
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
    subscription_id: Mapped[uuid.UUID] = refers_to("subscriptions.id", "RESTRICT")
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
    kind: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZ)
    amount: Mapped[Decimal] = mapped_column(U64)
    plan: Mapped[str] = mapped_column(String(16))  # what the charge pays for
    status: Mapped[str] = mapped_column(String(16))
    escrow_transaction_id: Mapped[uuid.UUID | None] = refers_to(
        "escrow_transactions.id", "RESTRICT", unique=True
    )
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = refers_to("users.id", "CASCADE", primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TZ)


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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
    subscription_id: Mapped[uuid.UUID] = refers_to("subscriptions.id", "RESTRICT")
    charge_id: Mapped[uuid.UUID] = refers_to(
        "subscription_charges.id", "RESTRICT", unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZ)
    period_end: Mapped[datetime] = mapped_column(TZ)
    amount: Mapped[Decimal] = mapped_column(U64)
    signature: Mapped[str] = mapped_column(String(88))
    issued_at: Mapped[datetime] = mapped_column(TZ)
