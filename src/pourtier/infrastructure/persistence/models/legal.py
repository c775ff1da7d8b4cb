"""Legal documents and their acceptances."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, Base, refers_to


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
