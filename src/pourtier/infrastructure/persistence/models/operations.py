"""KYC cases and events, the audit log, the outbox, notifications and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


class NotificationRow(Base):
    """What a user sees in the app (see domain/notifications.py)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("uq_notifications_dedupe_key", "dedupe_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = refers_to("users.id", "CASCADE")
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
    event_id: Mapped[uuid.UUID] = refers_to("outbox_events.id", "CASCADE")
    sink: Mapped[str] = mapped_column(String(64))
    endpoint_id: Mapped[uuid.UUID | None] = refers_to(
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
