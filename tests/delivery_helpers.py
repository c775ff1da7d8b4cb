"""Helpers of the event delivery tests: events committed, endpoints made,
deliveries read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.deliveries import WebhookEndpoint
from pourtier.domain.events import Event, EventType
from tests.support.receiver import Received


async def commit_events(
    container: Container,
    subject: str,
    count: int = 1,
    type: EventType = EventType.USER_UPDATED,
) -> list[Event]:
    """`count` events about `subject`, each in its own committed change."""
    added = []
    for n in range(count):
        async with container.auth.uow() as uow:
            event = Event.of(type, ("user", subject), container.auth.clock(), n=n)
            added.append(await uow.outbox.add(event))
            await uow.commit()
    return added


async def endpoint(
    container: Container, url: str, types: list[str] | None = None
) -> WebhookEndpoint:
    return await container.events.create_webhook(Actor.cli(), url, types or [])


async def statuses(container: Container) -> dict[str, int]:
    async with container.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT status, count(*) AS n FROM event_deliveries GROUP BY status")
        )
        return {row.status: row.n for row in rows}


def verified(received: Received, *secrets: str) -> dict[str, object]:
    """The payload, if every secret's signature checks (the `standardwebhooks`
    package: a verification written independently of ours)."""
    payload: dict[str, object] = {}
    for secret in secrets:
        payload = Webhook(secret).verify(received.body, received.headers)
    return payload


def event_of(subject: str) -> Event:
    return Event.of(EventType.USER_UPDATED, ("user", subject), datetime.now(UTC), x=1)


def new_subject() -> str:
    return str(uuid.uuid4())
