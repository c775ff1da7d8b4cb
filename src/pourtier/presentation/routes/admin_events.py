"""Operators' routes for events: webhook endpoints, deliveries, redelivery.
Mounted behind the admin gate, as routes/admin.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from pourtier.presentation.deps import ActingAdmin, ContainerDep
from pourtier.presentation.responses import errors
from pourtier.presentation.schemas.events import (
    DeliveryOut,
    RedeliveredOut,
    SecretOut,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
    WebhookPatchIn,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])
NO_ENDPOINT = errors(404, s404="No such webhook endpoint")


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    responses=errors(400, s400="Unknown event type, or a URL the service refuses"),
)
async def create_webhook(
    body: WebhookIn, actor: ActingAdmin, container: ContainerDep
) -> WebhookCreatedOut:
    """A new endpoint; its secret is in this answer and never again."""
    endpoint = await container.events.create_webhook(actor, body.url, body.event_types)
    return WebhookCreatedOut.model_validate(endpoint)


@router.get("/webhooks")
async def webhooks(container: ContainerDep) -> list[WebhookOut]:
    return [WebhookOut.model_validate(e) for e in await container.events.webhooks()]


@router.post("/webhooks/{webhook_id}/rotate-secret", responses=NO_ENDPOINT)
async def rotate_secret(
    webhook_id: uuid.UUID, actor: ActingAdmin, container: ContainerDep
) -> SecretOut:
    """A new secret; the previous one keeps signing beside it for 24 hours."""
    secret = await container.events.rotate_secret(actor, webhook_id)
    return SecretOut(secret=secret)


@router.patch("/webhooks/{webhook_id}", responses=NO_ENDPOINT)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookPatchIn,
    actor: ActingAdmin,
    container: ContainerDep,
) -> WebhookOut:
    endpoint = await container.events.set_enabled(actor, webhook_id, body.enabled)
    return WebhookOut.model_validate(endpoint)


@router.get("/webhooks/{webhook_id}/deliveries", responses=NO_ENDPOINT)
async def deliveries(
    webhook_id: uuid.UUID,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[DeliveryOut]:
    """The endpoint's latest deliveries, newest first."""
    found = await container.events.deliveries(webhook_id, limit)
    return [DeliveryOut.model_validate(d) for d in found]


@router.post(
    "/events/{event_id}/redeliver", responses=errors(404, s404="No such event")
)
async def redeliver(
    event_id: uuid.UUID, actor: ActingAdmin, container: ContainerDep
) -> RedeliveredOut:
    """Send the event again to each of its enabled sinks (consumers dedupe by
    its id)."""
    count = await container.events.redeliver(actor, event_id)
    return RedeliveredOut(event_id=event_id, deliveries=count)
