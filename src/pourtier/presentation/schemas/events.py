"""Webhook endpoints and event deliveries as operators see them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from pourtier.presentation.schemas.common import Out, RequestBody

NO_NUL = r"^[^\x00]*$"


class WebhookIn(RequestBody):
    url: str = Field(max_length=2048, pattern=NO_NUL, examples=["https://x/hook"])
    event_types: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="The event types it receives (`payment.completed`, ...); "
        "empty: every type.",
    )


class WebhookPatchIn(RequestBody):
    enabled: bool


class WebhookOut(Out):
    id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(
        description="`admin`, `gone` (it answered 410) or `failing` (5 days)"
    )
    failing_since: datetime | None
    previous_secret_until: datetime | None = Field(
        description="Until then the previous secret signs too (a rotation)"
    )
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="`whsec_...`: shown this once")


class SecretOut(Out):
    secret: str = Field(description="The new `whsec_...` secret: shown this once")


class DeliveryOut(Out):
    id: int
    event_id: uuid.UUID
    sink: str = Field(description="`courier`, or the webhook endpoint's id")
    subject_type: str
    subject_id: str
    sequence: int
    status: str = Field(description="`pending`, `delivered`, `failed`, `disabled`")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


class RedeliveredOut(Out):
    event_id: uuid.UUID
    deliveries: int = Field(description="Deliveries made pending again")
