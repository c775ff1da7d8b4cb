"""Users, legal documents and acceptances, nonces, sessions and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
    Text,
    text,
)
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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
    document_id: Mapped[uuid.UUID] = refers_to("legal_documents.id", "RESTRICT")
    document_version: Mapped[str] = mapped_column(String(32))
    content_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(TZ)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class AuthNonceRow(Base):
    __tablename__ = "auth_nonces"
    __table_args__ = (Index("ix_auth_nonces_expires_at", "expires_at"),)

    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    wallet_address: Mapped[str] = mapped_column(String(44))
    issued_at: Mapped[datetime] = mapped_column(TZ)
    expires_at: Mapped[datetime] = mapped_column(TZ)
    consumed_at: Mapped[datetime | None] = mapped_column(TZ)


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
