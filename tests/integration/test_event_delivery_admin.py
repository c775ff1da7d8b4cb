"""Webhook endpoints managed through the admin API and the CLI, audited;
redelivery; the production URL policy at send time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.deliveries import COURIER, DueDelivery
from pourtier.infrastructure.events.url_policy import WebhookUrlPolicy
from pourtier.infrastructure.events.webhooks import WebhookSink
from tests.admin_helpers import audit_entries, create_admin
from tests.delivery_helpers import commit_events, new_subject, statuses, verified
from tests.helpers import bearer
from tests.support.processes import process_env, run_cli
from tests.support.receiver import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def create_hook(
    client: httpx.AsyncClient, admin: dict[str, Any], url: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/webhooks", json={"url": url, **body}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_admins_manage_webhooks_and_every_change_is_audited(
    client: httpx.AsyncClient, container: Container, receiver: Receiver
) -> None:
    admin = await create_admin(client, container)
    hook = await create_hook(client, admin, receiver.url, event_types=["user.updated"])
    assert hook["secret"].startswith("whsec_")
    listed = await client.get("/api/admin/webhooks", headers=bearer(admin))
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    assert "secret" not in listed.json()[0]
    assert hook["secret"] not in listed.text

    (event,) = await commit_events(container, new_subject())
    await container.relay.run_once()
    verified(receiver.accepted()[0], hook["secret"])
    path = f"/api/admin/webhooks/{hook['id']}"
    deliveries = await client.get(f"{path}/deliveries", headers=bearer(admin))
    assert [(d["event_id"], d["status"]) for d in deliveries.json()] == [
        (str(event.id), "delivered")
    ]

    rotated = await client.post(f"{path}/rotate-secret", headers=bearer(admin))
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    redelivered = await client.post(
        f"/api/admin/events/{event.id}/redeliver", headers=bearer(admin)
    )
    assert redelivered.json() == {"event_id": str(event.id), "deliveries": 1}
    await container.relay.run_once()
    again = receiver.accepted()[-1]
    assert again.headers["webhook-id"] == str(event.id)  # the consumer dedupes
    verified(again, hook["secret"], secret)

    disabled = await client.patch(path, json={"enabled": False}, headers=bearer(admin))
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "admin"
    await commit_events(container, new_subject())
    assert await statuses(container) == {"delivered": 1}  # not fanned out

    entries = await audit_entries(client, admin)
    actions = [e["action"] for e in entries]
    for action in (
        "webhook.create",
        "webhook.rotate",
        "event.redeliver",
        "webhook.update",
    ):
        assert action in actions
    assert hook["secret"] not in str(entries)
    assert secret not in str(entries)


async def test_bad_types_and_unknown_ids_are_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    bad = await client.post(
        "/api/admin/webhooks",
        json={"url": "http://127.0.0.1:9/", "event_types": ["user.exploded"]},
        headers=bearer(admin),
    )
    assert bad.status_code == 400, bad.text
    unknown = "00000000-0000-0000-0000-000000000000"
    for method, url in [
        ("POST", f"/api/admin/webhooks/{unknown}/rotate-secret"),
        ("GET", f"/api/admin/webhooks/{unknown}/deliveries"),
        ("POST", f"/api/admin/events/{unknown}/redeliver"),
    ]:
        response = await client.request(method, url, headers=bearer(admin))
        assert response.status_code == 404, (url, response.text)


async def test_production_refuses_to_send_to_a_private_address(
    container: Container, receiver: Receiver
) -> None:
    hook = await container.events.create_webhook(
        Actor.cli(),
        receiver.url,
        [],
    )
    (event,) = await commit_events(container, new_subject())
    async with container.auth.uow() as uow:
        (due,) = await uow.deliveries.claim_due(container.auth.clock(), 10)
    assert due.delivery.sink != COURIER
    async with httpx.AsyncClient() as http:
        sink = WebhookSink(http, WebhookUrlPolicy(allow_private=False))
        result = await sink.send(
            DueDelivery(due.delivery, event, hook), container.auth.clock()
        )
    assert not result.delivered
    assert "refused" in result.describe()
    assert receiver.received == []


async def test_operators_list_show_and_redeliver_events_from_the_cli(
    container: Container, receiver: Receiver, database_url: str, data_dir: Path
) -> None:
    await container.events.create_webhook(
        Actor.cli(),
        receiver.url,
        [],
    )
    (event,) = await commit_events(container, new_subject())
    await container.relay.run_once()
    env = process_env(database_url, data_dir)
    listed = await run_cli(env, "events", "list")
    assert listed.returncode == 0, listed.output
    assert str(event.id) in listed.output
    shown = await run_cli(env, "events", "show", str(event.id))
    assert shown.returncode == 0, shown.output
    assert '"type": "user.updated"' in shown.output
    assert "delivered, 1 attempt(s)" in shown.output
    again = await run_cli(env, "events", "redeliver", str(event.id))
    assert again.returncode == 0, again.output
    assert "1 delivery(ies) due again" in again.output
    assert await statuses(container) == {"pending": 1}
    missing = await run_cli(
        env, "events", "show", "00000000-0000-0000-0000-000000000000"
    )
    assert missing.returncode == 1
