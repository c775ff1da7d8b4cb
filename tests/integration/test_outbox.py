"""The transactional outbox: an event exists exactly when its change committed,
and each subject numbers its events in commit order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from pourtier.di.container import Container
from pourtier.domain.events import Event, EventType
from tests.helpers import create_user
from tests.support.db import fetch


async def events_of(container: Container, subject_id: str) -> list[tuple[str, int]]:
    rows = await fetch(
        container,
        "SELECT type, sequence FROM outbox_events WHERE subject_id = :s "
        "ORDER BY sequence",
        s=subject_id,
    )
    return [(row.type, row.sequence) for row in rows]


def event(subject_id: str) -> Event:
    return Event.of(
        EventType.USER_UPDATED, ("user", subject_id), datetime.now(UTC), x=1
    )


async def test_registration_writes_its_event_with_the_user(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    user_id = tokens["user"]["id"]
    assert await events_of(container, user_id) == [("user.registered", 1)]


async def test_a_rolled_back_change_leaves_no_event(container: Container) -> None:
    subject = str(uuid.uuid4())
    async with container.auth.uow() as uow:
        await uow.outbox.add(event(subject))
        # no commit: the unit of work rolls back
    assert await events_of(container, subject) == []
    async with container.auth.uow() as uow:
        added = await uow.outbox.add(event(subject))
        await uow.commit()
    assert added.sequence == 1  # the rolled-back number was given back
    assert await events_of(container, subject) == [("user.updated", 1)]


async def test_concurrent_writers_number_a_subject_in_commit_order(
    container: Container,
) -> None:
    subject = str(uuid.uuid4())
    first_added = asyncio.Event()
    order: list[str] = []

    async def first() -> int:
        async with container.auth.uow() as uow:
            numbered = await uow.outbox.add(event(subject))
            first_added.set()
            await asyncio.sleep(0.3)  # the second writer waits for this commit
            await uow.commit()
            order.append("first")
            return numbered.sequence

    async def second() -> int:
        await first_added.wait()
        async with container.auth.uow() as uow:
            numbered = await uow.outbox.add(event(subject))
            await uow.commit()
            order.append("second")
            return numbered.sequence

    sequences = await asyncio.gather(first(), second())
    assert order == ["first", "second"]
    assert list(sequences) == [1, 2]
    assert [s for _, s in await events_of(container, subject)] == [1, 2]


@pytest.mark.parametrize("kind", list(EventType))
def test_every_type_names_its_courier_channel(kind: EventType) -> None:
    assert kind.channel in {
        "user",
        "subscription",
        "payment",
        "escrow",
        "kyc",
        "legal",
        "session",
        "wallet",
    }
    envelope = Event.of(kind, ("user", uuid.uuid4()), datetime.now(UTC)).envelope()
    assert set(envelope) == {
        "id",
        "type",
        "version",
        "occurred_at",
        "subject",
        "sequence",
        "data",
    }
