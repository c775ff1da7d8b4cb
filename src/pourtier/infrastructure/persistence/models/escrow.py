"""Escrow transactions, the follower's cursors and the ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    LargeBinary,
    Numeric,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, U64, Base, refers_to


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
