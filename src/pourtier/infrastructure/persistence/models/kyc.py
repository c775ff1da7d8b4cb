"""KYC cases and their append-only history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import (
    KYC_STATUSES,
    TZ,
    Base,
    refers_to,
)


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

    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT", primary_key=True)
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
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "RESTRICT")
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(TZ)
    recorded_at: Mapped[datetime] = mapped_column(TZ)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    rejection_type: Mapped[str | None] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))
