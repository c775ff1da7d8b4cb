"""The outbox, per-subject sequences, webhook endpoints and deliveries."""

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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pourtier.infrastructure.persistence.models.base import TZ, Base, refers_to


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
