"""GET /api/notifications and POST /api/notifications/read: your own only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pourtier.di.container import Container
from pourtier.domain.notifications import Notification, NotificationKind
from tests.helpers import bearer, create_user


def uid(tokens: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(tokens["user"]["id"])


async def give(container: Container, user: uuid.UUID, count: int) -> None:
    start = datetime.now(UTC)
    async with container.notifications.uow() as uow:
        for n in range(count):
            await uow.notifications.add(
                Notification.of(
                    user,
                    NotificationKind.PAYMENT_COMPLETED,
                    start + timedelta(seconds=n),
                    f"n{n}",
                    "body",
                    n=n,
                )
            )
        await uow.commit()


async def page(
    client: httpx.AsyncClient, tokens: dict[str, Any], **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/api/notifications", params=params, headers=bearer(tokens)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def read(
    client: httpx.AsyncClient, tokens: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/api/notifications/read", json=body, headers=bearer(tokens)
    )


async def test_newest_first_paginated_with_the_unread_count(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await give(container, uid(tokens), 5)
    first = await page(client, tokens, limit=2)
    assert [n["title"] for n in first["items"]] == ["n4", "n3"]
    assert (first["total"], first["unread"]) == (5, 5)
    assert first["items"][0]["data"] == {"n": 4}
    assert first["items"][0]["read_at"] is None
    rest = await page(client, tokens, limit=10, offset=2)
    assert [n["title"] for n in rest["items"]] == ["n2", "n1", "n0"]
    assert (await client.get("/api/notifications")).status_code == 401


async def test_marking_read_by_ids_and_all_touches_only_your_own(
    client: httpx.AsyncClient, container: Container
) -> None:
    mine, theirs = await create_user(client), await create_user(client)
    await give(container, uid(mine), 3)
    await give(container, uid(theirs), 2)
    their_ids = [n["id"] for n in (await page(client, theirs))["items"]]
    assert (await page(client, mine))["total"] == 3  # theirs are not listed

    my_ids = [n["id"] for n in (await page(client, mine))["items"]]
    marked = await read(client, mine, {"ids": [my_ids[0], *their_ids]})
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 1, "unread": 2}
    assert (await page(client, theirs))["unread"] == 2  # untouched
    listed = (await page(client, mine))["items"]
    assert listed[0]["read_at"] is not None

    everything = await read(client, mine, {"all": True})
    assert everything.json() == {"marked": 2, "unread": 0}
    assert (await read(client, mine, {"all": True})).json()["marked"] == 0
    assert (await page(client, theirs))["unread"] == 2

    bad_bodies: list[dict[str, Any]] = [
        {},
        {"ids": []},
        {"ids": my_ids, "all": True},
        {"all": False},
    ]
    for bad in bad_bodies:
        assert (await read(client, mine, bad)).status_code == 422, bad
