"""Receipts of confirmed charges and the book that numbers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, U64, Base, refers_to


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
