"""Accounts: one user row and every wallet linked to it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import (
    KYC_STATUSES,
    TZ,
    Base,
    refers_to,
)


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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "CASCADE")
    linked_at: Mapped[datetime] = mapped_column(TZ)
