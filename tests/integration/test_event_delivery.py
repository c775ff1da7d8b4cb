"""Webhook delivery with real HTTP receivers: signatures (checked by the
`standardwebhooks` package), filters, retries, 410, giving up, rollback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.deliveries import WEBHOOK_RETRY_DELAYS
from pourtier.domain.events import EventType
from tests.delivery_helpers import (
    commit_events,
    endpoint,
    event_of,
    new_subject,
    statuses,
    verified,
)
from tests.helpers import TestClock
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def test_webhooks_are_signed_as_the_standard_says_and_in_order(
    container: Container, receiver: Receiver
) -> None:
    hook = await endpoint(container, receiver.url + "/hook")
    assert hook.secret.startswith("whsec_")
    subject = new_subject()
    events = await commit_events(container, subject, 3)
    assert await container.relay.run_once() == 3
    got = receiver.accepted()
    assert [r.headers["webhook-id"] for r in got] == [str(e.id) for e in events]
    payloads = [verified(r, hook.secret) for r in got]
    assert [p["sequence"] for p in payloads] == [1, 2, 3]
    assert payloads[0] == events[0].envelope()
    assert await statuses(container) == {"delivered": 3}


async def test_during_a_rotation_both_secrets_sign(
    container: Container, receiver: Receiver, clock: TestClock
) -> None:
    hook = await endpoint(container, receiver.url)
    new = await container.events.rotate_secret(Actor.cli(), hook.id)
    await commit_events(container, new_subject())
    await container.relay.run_once()
    (got,) = receiver.accepted()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verified(got, hook.secret, new)
    clock.offset += timedelta(hours=25)  # the overlap is over
    await commit_events(container, new_subject())
    await container.relay.run_once()
    last = receiver.accepted()[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    verified(last, new)


async def test_an_endpoint_gets_only_the_types_it_asked_for(
    container: Container, receiver: Receiver
) -> None:
    await endpoint(container, receiver.url, ["payment.completed"])
    subject = new_subject()
    await commit_events(container, subject, 2)
    await commit_events(container, subject, 1, EventType.PAYMENT_COMPLETED)
    await container.relay.run_once()
    assert [r.json()["type"] for r in receiver.accepted()] == ["payment.completed"]


async def test_a_rolled_back_change_produces_no_delivery(
    container: Container, receiver: Receiver
) -> None:
    await endpoint(container, receiver.url)
    async with container.auth.uow() as uow:
        await uow.outbox.add(event_of(new_subject()))
        # no commit
    assert await statuses(container) == {}
    assert await container.relay.run_once() == 0
    assert receiver.received == []


async def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order(
    container: Container, receiver: Receiver, clock: TestClock
) -> None:
    await endpoint(container, receiver.url)
    first, second = new_subject(), new_subject()
    events = await commit_events(container, first, 3)
    events += await commit_events(container, second, 2)
    receiver.status = 500
    assert await container.relay.run_once() == 2  # each subject's first only
    for delay in WEBHOOK_RETRY_DELAYS[:3]:
        assert await container.relay.run_once() == 0  # not due yet
        clock.offset += delay
        assert await container.relay.run_once() == 2
    receiver.status = 200
    clock.offset += WEBHOOK_RETRY_DELAYS[3]
    assert await container.relay.run_once() == 5
    got = receiver.accepted()
    assert sorted(r.headers["webhook-id"] for r in got) == sorted(
        str(e.id) for e in events
    )
    for subject in (first, second):
        sequences = [
            r.json()["sequence"] for r in got if r.json()["subject"]["id"] == subject
        ]
        assert sequences == sorted(sequences)
    assert await statuses(container) == {"delivered": 5}


async def test_a_delivery_is_given_up_after_the_schedule_and_the_next_goes(
    container: Container, receiver: Receiver, clock: TestClock
) -> None:
    await endpoint(container, receiver.url)
    subject = new_subject()
    await commit_events(container, subject, 2)
    receiver.status = 503
    await container.relay.run_once()
    for delay in WEBHOOK_RETRY_DELAYS:
        clock.offset += delay
        await container.relay.run_once()
    assert len(receiver.received) == 1 + len(WEBHOOK_RETRY_DELAYS) + 1
    assert (await statuses(container))["failed"] == 1
    receiver.status = 200
    clock.offset += WEBHOOK_RETRY_DELAYS[0]
    await container.relay.run_once()
    assert [r.json()["sequence"] for r in receiver.accepted()] == [2]


async def test_410_disables_the_endpoint_at_once(
    container: Container, receiver: Receiver
) -> None:
    hook = await endpoint(container, receiver.url)
    await commit_events(container, new_subject(), 1)
    await commit_events(container, new_subject(), 1)
    receiver.status = 410
    await container.relay.run_once()
    (found,) = await container.events.webhooks()
    assert not found.enabled
    assert found.disabled_reason == "gone"
    assert await statuses(container) == {"disabled": 2}
    await commit_events(container, new_subject(), 1)  # no longer fanned out to it
    assert await statuses(container) == {"disabled": 2}
    assert hook.id == found.id


async def test_an_endpoint_failing_for_five_days_is_disabled(
    container: Container, receiver: Receiver, clock: TestClock
) -> None:
    await endpoint(container, receiver.url)
    receiver.status = 500
    for _ in range(6):  # a fresh event a day, each failing
        await commit_events(container, new_subject(), 1)
        await container.relay.run_once()
        clock.offset += timedelta(days=1)
    (found,) = await container.events.webhooks()
    assert not found.enabled
    assert found.disabled_reason == "failing"
