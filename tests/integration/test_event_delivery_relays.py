"""Courier as a sink, and several relays sharing the work in order."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from pourtier.application.event_relay import EventRelay
from pourtier.di.container import Container
from pourtier.domain.events import EventType
from tests.conftest import Serve
from tests.delivery_helpers import commit_events, endpoint, new_subject, statuses
from tests.helpers import TestClock
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def test_without_a_courier_url_or_endpoints_nothing_is_to_deliver(
    container: Container,
) -> None:
    await commit_events(container, new_subject(), 2)
    assert await statuses(container) == {}
    assert await container.relay.run_once() == 0


async def test_courier_gets_each_event_on_its_types_channel(
    serve: Serve, receiver: Receiver
) -> None:
    async with serve(COURIER_URL=receiver.url + "/") as app:
        subject = new_subject()
        events = await commit_events(app, subject, 1, EventType.USER_REGISTERED)
        events += await commit_events(app, subject, 1, EventType.PAYMENT_COMPLETED)
        assert await app.relay.run_once() == 2
        got = receiver.accepted()
        assert [r.path for r in got] == ["/publish/user", "/publish/payment"]
        assert [r.json() for r in got] == [e.envelope() for e in events]
        counted = app.metrics.event_deliveries.labels("courier", "delivered")
        assert counted._value.get() == 2


async def test_courier_down_is_retried_with_backoff_and_never_dropped(
    serve: Serve, receiver: Receiver, clock: TestClock
) -> None:
    async with serve(COURIER_URL=receiver.url) as app:
        events = await commit_events(app, new_subject(), 2)
        receiver.status = 503
        for _ in range(30):  # well past any webhook schedule: hours of outage
            await app.relay.run_once()
            clock.offset += timedelta(minutes=10)
        assert await statuses(app) == {"pending": 2}
        assert len(receiver.received) == 30  # the head only, then in order
        receiver.status = 200
        assert await app.relay.run_once() == 2
        assert [r.json()["id"] for r in receiver.accepted()] == [
            str(e.id) for e in events
        ]


async def drain(relay: EventRelay, done: asyncio.Event) -> int:
    attempted = 0
    while not done.is_set():
        attempted += await relay.run_once()
        await asyncio.sleep(0.01)
    return attempted


async def test_two_relays_share_the_work_and_keep_each_subjects_order(
    container: Container, serve: Serve, receiver: Receiver
) -> None:
    await endpoint(container, receiver.url)
    subjects = [new_subject() for _ in range(8)]
    for subject in subjects:
        await commit_events(container, subject, 8)
    receiver.delay = 0.005
    async with serve() as other:
        done = asyncio.Event()
        relays = [
            asyncio.create_task(drain(replace(app.relay, batch=3), done))
            for app in (container, other)
        ]
        deadline = time.monotonic() + 60
        while await statuses(container) != {"delivered": 64}:
            assert time.monotonic() < deadline, await statuses(container)
            await asyncio.sleep(0.05)
        done.set()
        attempted = await asyncio.gather(*relays)
    got = [r.json() for r in receiver.accepted()]
    print(f"two relays: attempts {attempted}, received {len(got)}")
    assert sum(attempted) == len(got) == 64  # no duplicates without failures
    assert all(attempted), "both relays took a share"
    for subject in subjects:
        sequences = [e["sequence"] for e in got if e["subject"]["id"] == subject]
        assert sequences == list(range(1, 9))


async def test_a_relay_without_a_courier_url_leaves_courier_deliveries_alone(
    container: Container, serve: Serve, receiver: Receiver
) -> None:
    async with serve(COURIER_URL=receiver.url) as app:
        await commit_events(app, new_subject(), 2)
        assert await container.relay.run_once() == 0  # this one has no Courier
        assert await statuses(container) == {"pending": 2}
        assert await app.relay.run_once() == 2
        assert await statuses(container) == {"delivered": 2}


async def test_pending_deliveries_are_a_gauge_and_the_relay_a_worker(
    container: Container, receiver: Receiver
) -> None:
    assert container.relay.run_once in container.workers
    await endpoint(container, receiver.url)
    await commit_events(container, new_subject(), 3)
    await container.refresh_gauges()
    assert container.metrics.outbox_pending._value.get() == 3
    retried = container.metrics.event_deliveries.labels("webhook", "retry")
    before = retried._value.get()  # the session's container counts on
    receiver.status = 500
    await container.relay.run_once()
    assert retried._value.get() == before + 1
    receiver.status = 200
    await container.relay.run_once()  # not due yet: still 3 pending
    await container.refresh_gauges()
    assert container.metrics.outbox_pending._value.get() == 3
