"""Subscriptions, their charges and the idempotency keys of the calls that
make them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, U64, Base, refers_to


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
