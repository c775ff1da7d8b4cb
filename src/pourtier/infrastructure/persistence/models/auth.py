"""Sign-in nonces, sessions and their refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, Base, refers_to


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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "CASCADE")
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
    session_id: Mapped[uuid.UUID] = refers_to("auth_sessions.id", "CASCADE")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[uuid.UUID | None] = refers_to("refresh_tokens.id", "CASCADE")
    issued_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    used_at: Mapped[datetime | None] = mapped_column(TZ)
