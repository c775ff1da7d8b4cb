"""Deliveries and webhook endpoints on PostgreSQL.

`claim_due` is the relay's one query: `FOR UPDATE SKIP LOCKED` lets any
number of relays share the due rows, and a row is taken only when no earlier
delivery of its subject to its sink is pending. A relay holds its rows locked
while it sends, so a second relay sees the earlier one still pending (its
snapshot) and leaves the later ones alone; and a relay that dies mid-send
loses its connection, its transaction rolls back and the rows are due again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.orm import aliased

from pourtier.domain.deliveries import (
    COURIER,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    DueDelivery,
    WebhookEndpoint,
)
from pourtier.domain.events import Event
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entities,
    to_entity,
)
from pourtier.infrastructure.persistence.models.events import (
    EventDeliveryRow,
    OutboxEventRow,
    WebhookEndpointRow,
)

PENDING = DeliveryStatus.PENDING.value


def _claim(now: datetime, limit: int, courier: bool) -> Select[EventDeliveryRow]:
    earlier = aliased(EventDeliveryRow)
    d = EventDeliveryRow
    blocked = exists().where(
        and_(
            earlier.sink == d.sink,
            earlier.subject_type == d.subject_type,
            earlier.subject_id == d.subject_id,
            earlier.sequence < d.sequence,
            earlier.status == PENDING,
        )
    )
    query = select(d).where(d.status == PENDING, d.next_attempt_at <= now, ~blocked)
    if not courier:
        query = query.where(d.sink != COURIER)
    return (
        query.order_by(d.next_attempt_at, d.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=d)
    )


class SqlDeliveries(SqlRepository):
    async def claim_due(
        self, now: datetime, limit: int, courier: bool = True
    ) -> list[DueDelivery]:
        rows = (await self._session.scalars(_claim(now, limit, courier))).all()
        if not rows:
            return []
        deliveries = to_entities(Delivery, rows)
        events = {
            row.id: to_entity(Event, row)
            for row in await self._session.scalars(
                select(OutboxEventRow).where(
                    OutboxEventRow.id.in_({d.event_id for d in deliveries})
                )
            )
        }
        wanted = {d.endpoint_id for d in deliveries if d.endpoint_id is not None}
        endpoints = {
            row.id: to_entity(WebhookEndpoint, row)
            for row in await self._session.scalars(
                select(WebhookEndpointRow).where(WebhookEndpointRow.id.in_(wanted))
            )
        }
        return [
            DueDelivery(
                d,
                events[d.event_id],
                endpoints[d.endpoint_id] if d.endpoint_id else None,
            )
            for d in deliveries
        ]

    async def save(self, delivery: Delivery) -> None:
        await self._session.execute(
            update(EventDeliveryRow)
            .where(EventDeliveryRow.id == delivery.id)
            .values(to_columns(delivery))
        )

    async def count_pending(self) -> int:
        query = select(func.count()).where(EventDeliveryRow.status == PENDING)
        return int(await self._session.scalar(query) or 0)

    async def oldest_pending_since(self) -> datetime | None:
        query = select(func.min(OutboxEventRow.occurred_at)).where(
            OutboxEventRow.id.in_(
                select(EventDeliveryRow.event_id).where(
                    EventDeliveryRow.status == PENDING
                )
            )
        )
        oldest: datetime | None = await self._session.scalar(query)
        return oldest

    async def of_endpoint(self, endpoint_id: uuid.UUID, limit: int) -> list[Delivery]:
        query = (
            select(EventDeliveryRow)
            .where(EventDeliveryRow.endpoint_id == endpoint_id)
            .order_by(EventDeliveryRow.id.desc())
            .limit(limit)
        )
        return await self._all(Delivery, query)

    async def of_event(self, event_id: uuid.UUID) -> list[Delivery]:
        query = (
            select(EventDeliveryRow)
            .where(EventDeliveryRow.event_id == event_id)
            .order_by(EventDeliveryRow.id)
        )
        return await self._all(Delivery, query)

    async def redeliver(self, event_id: uuid.UUID, now: datetime) -> int:
        enabled_sink = EventDeliveryRow.endpoint_id.is_(None) | exists().where(
            WebhookEndpointRow.id == EventDeliveryRow.endpoint_id,
            WebhookEndpointRow.enabled,
        )
        result = await self._session.execute(
            update(EventDeliveryRow)
            .where(EventDeliveryRow.event_id == event_id, enabled_sink)
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                last_error=None,
                delivered_at=None,
            )
            .returning(EventDeliveryRow.id)
        )
        return len(result.all())

    async def event(self, event_id: uuid.UUID) -> Event | None:
        return await self._one(
            Event, select(OutboxEventRow).where(OutboxEventRow.id == event_id)
        )

    async def recent_events(self, limit: int) -> list[Event]:
        query = (
            select(OutboxEventRow)
            .order_by(OutboxEventRow.occurred_at.desc(), OutboxEventRow.id)
            .limit(limit)
        )
        return await self._all(Event, query)


class SqlWebhooks(SqlRepository):
    async def add(self, endpoint: WebhookEndpoint) -> None:
        self._session.add(WebhookEndpointRow(**to_columns(endpoint)))
        await self._session.flush()

    async def get(
        self, endpoint_id: uuid.UUID, for_update: bool = False
    ) -> WebhookEndpoint | None:
        found = WebhookEndpointRow.id
        return await self._by(WebhookEndpoint, found, endpoint_id, for_update)

    async def all(self) -> list[WebhookEndpoint]:
        query = select(WebhookEndpointRow).order_by(WebhookEndpointRow.created_at)
        return await self._all(WebhookEndpoint, query)

    async def save(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.id == endpoint.id)
            .values(to_columns(endpoint))
        )

    # Single-column updates, so a relay never writes back an endpoint it read
    # before an admin changed it.
    async def record_success(self, endpoint_id: uuid.UUID) -> None:
        await self._session.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.id == endpoint_id)
            .values(failing_since=None)
        )

    async def record_failure(self, endpoint_id: uuid.UUID, now: datetime) -> datetime:
        since = func.coalesce(WebhookEndpointRow.failing_since, now)
        result = await self._session.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.id == endpoint_id)
            .values(failing_since=since)
            .returning(WebhookEndpointRow.failing_since)
        )
        since_then: datetime | None = result.scalar_one()
        assert since_then is not None
        return since_then

    async def disable(self, endpoint_id: uuid.UUID, reason: DisabledReason) -> None:
        await self._session.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason.value)
        )
