"""Operators' side of events: webhook endpoints, delivery records, redelivery.

Every change is audited in its own transaction (never with a secret in it).
A secret is returned once, by the call that makes it; a rotation keeps the
previous secret signing beside the new one for ROTATION_OVERLAP, so
consumers can switch without losing a delivery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.domain.audit import Actor, AuditAction, AuditEntry
from pourtier.domain.deliveries import (
    ROTATION_OVERLAP,
    Delivery,
    DisabledReason,
    UrlPolicy,
    WebhookEndpoint,
    new_secret,
)
from pourtier.domain.errors import InvalidInput, NotFound
from pourtier.domain.events import Event, EventType
from pourtier.domain.unit_of_work import UnitOfWork

KNOWN_TYPES = frozenset(t.value for t in EventType)


def _summary(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
    }


@dataclass
class EventAdmin:
    uow: UnitOfWorkFactory
    clock: Clock
    urls: UrlPolicy

    async def create_webhook(
        self, actor: Actor, url: str, event_types: list[str]
    ) -> WebhookEndpoint:
        """The new endpoint, its secret included (shown this once)."""
        unknown = sorted(set(event_types) - KNOWN_TYPES)
        if unknown:
            raise InvalidInput(f"unknown event types: {', '.join(unknown)}")
        await self.urls.check(url)
        now = self.clock()
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            url=url,
            event_types=sorted(set(event_types)),
            secret=new_secret(),
            created_at=now,
        )
        async with self.uow() as uow:
            await uow.webhooks.add(endpoint)
            await self._audit(
                uow, actor, AuditAction.WEBHOOK_CREATE, endpoint, after=endpoint
            )
            await uow.commit()
        return endpoint

    async def webhooks(self) -> list[WebhookEndpoint]:
        async with self.uow() as uow:
            return await uow.webhooks.all()

    async def rotate_secret(self, actor: Actor, endpoint_id: uuid.UUID) -> str:
        """The new secret; the old one signs too for ROTATION_OVERLAP."""
        now = self.clock()
        async with self.uow() as uow:
            endpoint = await self._endpoint(uow, endpoint_id)
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_until = now + ROTATION_OVERLAP
            endpoint.secret = new_secret()
            await uow.webhooks.save(endpoint)
            await self._audit(uow, actor, AuditAction.WEBHOOK_ROTATE, endpoint)
            await uow.commit()
        return endpoint.secret

    async def set_enabled(
        self, actor: Actor, endpoint_id: uuid.UUID, enabled: bool
    ) -> WebhookEndpoint:
        """Disabled, it gets no new events and its pending deliveries are
        dropped as they come due; enabled again, it starts failing afresh."""
        async with self.uow() as uow:
            endpoint = await self._endpoint(uow, endpoint_id)
            before = _summary(endpoint)
            endpoint.enabled = enabled
            endpoint.disabled_reason = None if enabled else DisabledReason.ADMIN
            endpoint.failing_since = None
            await uow.webhooks.save(endpoint)
            await self._audit(
                uow,
                actor,
                AuditAction.WEBHOOK_UPDATE,
                endpoint,
                before=before,
                after=endpoint,
            )
            await uow.commit()
        return endpoint

    async def deliveries(self, endpoint_id: uuid.UUID, limit: int) -> list[Delivery]:
        """The endpoint's latest deliveries, newest first."""
        async with self.uow() as uow:
            await self._endpoint(uow, endpoint_id)
            return await uow.deliveries.of_endpoint(endpoint_id, limit)

    async def redeliver(self, actor: Actor, event_id: uuid.UUID) -> int:
        """Send the event again to each of its sinks still enabled; how many.
        Consumers dedupe by its id, so this is always safe."""
        async with self.uow() as uow:
            if await uow.deliveries.event(event_id) is None:
                raise NotFound("no such event")
            count = await uow.deliveries.redeliver(event_id, self.clock())
            await uow.audit.append(
                AuditEntry.of(
                    actor,
                    AuditAction.EVENT_REDELIVER,
                    ("event", event_id),
                    self.clock(),
                ).changed(None, {"deliveries": count})
            )
            await uow.commit()
        return count

    async def recent_events(self, limit: int) -> list[Event]:
        async with self.uow() as uow:
            return await uow.deliveries.recent_events(limit)

    async def event(self, event_id: uuid.UUID) -> tuple[Event, list[Delivery]]:
        async with self.uow() as uow:
            found = await uow.deliveries.event(event_id)
            if found is None:
                raise NotFound("no such event")
            return found, await uow.deliveries.of_event(event_id)

    async def _endpoint(
        self, uow: UnitOfWork, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint:
        endpoint = await uow.webhooks.get(endpoint_id, for_update=True)
        if endpoint is None:
            raise NotFound("no such webhook endpoint")
        return endpoint

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: AuditAction,
        endpoint: WebhookEndpoint,
        *,
        before: dict[str, object] | None = None,
        after: WebhookEndpoint | None = None,
    ) -> None:
        await uow.audit.append(
            AuditEntry.of(
                actor, action, ("webhook", endpoint.id), self.clock()
            ).changed(before, _summary(after) if after is not None else None)
        )
