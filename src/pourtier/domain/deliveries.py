"""Deliveries: each event, to each sink that wants it, at least once and in
order per subject.

A sink is Courier (the platform bus) or one webhook endpoint. A delivery row
exists for every (event, sink) pair from the event's own transaction, so a
committed event can never be missed by a sink and a rolled-back one never
reaches any. The relay sends a subject's deliveries for one sink strictly in
sequence order: a delivery waits while an earlier one of its subject and sink
is still pending (one given up on or disabled no longer holds the others).
"""

from __future__ import annotations

import secrets
import uuid
from base64 import b64encode
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pourtier.domain.events import Event, EventType

COURIER = "courier"
"""The sink name of Courier; a webhook endpoint's is its id."""

WEBHOOK_RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""After the first attempt fails, the waits before the next ones (Standard
Webhooks' suggested schedule); after the last, the delivery is given up."""
WEBHOOK_FAILING_LIMIT = timedelta(days=5)
"""An endpoint failing every delivery this long is disabled."""
COURIER_MAX_BACKOFF = timedelta(minutes=5)
ROTATION_OVERLAP = timedelta(hours=24)
"""After a rotation the previous secret also signs, this long."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up after the whole retry schedule (webhooks only)."""
    DISABLED = "disabled"
    """Its endpoint was disabled before it got through."""


class DisabledReason(StrEnum):
    ADMIN = "admin"
    GONE = "gone"
    """The endpoint answered 410 Gone."""
    FAILING = "failing"
    """Failing for WEBHOOK_FAILING_LIMIT."""


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + b64encode(secrets.token_bytes(32)).decode()


@dataclass
class WebhookEndpoint:
    id: uuid.UUID
    url: str
    event_types: list[str]
    """The types it receives; empty: all of them."""
    secret: str
    created_at: datetime
    enabled: bool = True
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    disabled_reason: str | None = None
    failing_since: datetime | None = None

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and during a rotation the previous one too."""
        until = self.previous_secret_until
        if self.previous_secret and until is not None and now < until:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def wants(self, type: EventType) -> bool:
        return not self.event_types or type.value in self.event_types


@dataclass
class Delivery:
    id: int
    event_id: uuid.UUID
    sink: str
    endpoint_id: uuid.UUID | None
    subject_type: str
    subject_id: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class SendResult:
    """What a sink answered: 2xx is delivered; `status` None: no answer."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410

    def describe(self) -> str:
        return self.error or f"HTTP {self.status}"


def courier_retry_at(attempts: int, now: datetime) -> datetime:
    """Courier is never given up: 1 s, 2 s, 4 s... at most COURIER_MAX_BACKOFF."""
    wait = timedelta(seconds=2 ** min(attempts - 1, 16))
    return now + min(wait, COURIER_MAX_BACKOFF)


def webhook_retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed ones; None: give up."""
    if attempts > len(WEBHOOK_RETRY_DELAYS):
        return None
    return now + WEBHOOK_RETRY_DELAYS[attempts - 1]


@dataclass(frozen=True)
class DueDelivery:
    delivery: Delivery
    event: Event
    endpoint: WebhookEndpoint | None
    """None for Courier."""


class DeliveryRepository(Protocol):
    async def claim_due(
        self, now: datetime, limit: int, courier: bool = True
    ) -> list[DueDelivery]:
        """Due deliveries no other relay holds, each the first pending one of
        its subject for its sink; locked until the transaction ends. Without
        `courier` (a process with no COURIER_URL), Courier's are left alone."""
        ...

    async def save(self, delivery: Delivery) -> None: ...

    async def count_pending(self) -> int: ...

    async def oldest_pending_since(self) -> datetime | None:
        """When the oldest event with a pending delivery occurred; None if none."""
        ...

    async def of_endpoint(
        self, endpoint_id: uuid.UUID, limit: int
    ) -> list[Delivery]: ...

    async def of_event(self, event_id: uuid.UUID) -> list[Delivery]: ...

    async def redeliver(self, event_id: uuid.UUID, now: datetime) -> int:
        """Every delivery of the event to a still enabled sink made pending
        again, due now; how many."""
        ...

    async def event(self, event_id: uuid.UUID) -> Event | None: ...

    async def recent_events(self, limit: int) -> list[Event]: ...


class WebhookRepository(Protocol):
    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(
        self, endpoint_id: uuid.UUID, for_update: bool = False
    ) -> WebhookEndpoint | None: ...

    async def all(self) -> list[WebhookEndpoint]: ...

    async def save(self, endpoint: WebhookEndpoint) -> None: ...

    async def record_success(self, endpoint_id: uuid.UUID) -> None:
        """No longer failing."""
        ...

    async def record_failure(self, endpoint_id: uuid.UUID, now: datetime) -> datetime:
        """Failing since when (now, if it was not already)."""
        ...

    async def disable(self, endpoint_id: uuid.UUID, reason: DisabledReason) -> None: ...


class EventSink(Protocol):
    async def send(self, due: DueDelivery, now: datetime) -> SendResult: ...


class UrlPolicy(Protocol):
    async def check(self, url: str) -> None:
        """Raise InvalidInput for a URL the service must not call."""
        ...
