"""A user's sessions over HTTP: `GET /api/auth/sessions`, `DELETE .../{id}`.

Only live sessions are listed, newest first, the caller's own flagged
`current`. `last_used_at` moves when the session's refresh token is rotated,
never on a plain request. Ending a session refuses its tokens at once; another
user's session answers 404, as an unknown one does, and stays untouched.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.event_helpers import events_about
from tests.helpers import TestClock, bearer, create_user, login
from tests.integration.test_sessions import (
    assert_refused,
    me,
    refresh,
    rotate,
    session_of,
    session_row,
)


async def sessions(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[Any]:
    response = await client.get("/api/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return found


async def end(
    client: httpx.AsyncClient, tokens: dict[str, Any], session_id: str
) -> httpx.Response:
    return await client.delete(
        f"/api/auth/sessions/{session_id}", headers=bearer(tokens)
    )


async def test_two_logins_are_listed_newest_first_with_the_current_one_flagged(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    laptop = await create_user(client, wallet)
    clock.offset = timedelta(seconds=5)
    phone = await login(client, wallet)

    listed = await sessions(client, laptop)
    assert [s["id"] for s in listed] == [session_of(phone), session_of(laptop)]
    assert [s["current"] for s in listed] == [False, True]
    assert set(listed[0]) == {
        "id",
        "created_at",
        "last_used_at",
        "ip_address",
        "user_agent",
        "current",
    }
    assert listed[0]["created_at"] > listed[1]["created_at"]
    assert all(s["last_used_at"] is None for s in listed)
    assert listed[0]["user_agent"]

    assert [s["current"] for s in await sessions(client, phone)] == [True, False]
    assert await sessions(client, await create_user(client)) != listed


async def test_last_used_at_moves_on_refresh_only(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    tokens = await create_user(client)
    clock.offset = timedelta(minutes=1)
    assert await me(client, tokens) == 200
    [before] = await sessions(client, tokens)
    assert before["last_used_at"] is None

    clock.offset = timedelta(minutes=2)
    rotated = await rotate(client, tokens["refresh_token"])
    [after] = await sessions(client, rotated)
    assert after["last_used_at"] is not None
    assert after["last_used_at"] > before["created_at"]

    clock.offset = timedelta(minutes=3)
    assert await me(client, rotated) == 200
    [still] = await sessions(client, rotated)
    assert still["last_used_at"] == after["last_used_at"]

    clock.offset = timedelta(minutes=4)
    await rotate(client, rotated["refresh_token"])
    [later] = await sessions(client, rotated)
    assert later["last_used_at"] > after["last_used_at"]


async def test_ending_the_other_session_refuses_its_tokens_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    laptop = await create_user(client, wallet)
    phone = await login(client, wallet)
    assert await me(client, phone) == 200  # its session is in the cache now

    response = await end(client, laptop, session_of(phone))
    assert response.status_code == 204, response.text

    assert await me(client, phone) == 401
    assert_refused(await refresh(client, phone["refresh_token"]))
    assert (await session_row(container, session_of(phone))).revoked_reason == (
        "ended_by_user"
    )
    assert await me(client, laptop) == 200
    assert [s["id"] for s in await sessions(client, laptop)] == [session_of(laptop)]
    assert await me(client, await rotate(client, laptop["refresh_token"])) == 200

    again = await end(client, laptop, session_of(phone))
    assert again.status_code == 404, again.text
    revoked = [
        (e["data"]["session_ids"], e["data"]["reason"])
        for e in await events_about(container, laptop["user"]["id"])
        if e["type"] == "session.revoked"
    ]
    assert revoked == [([session_of(phone)], "ended_by_user")]


async def test_ending_the_current_session_is_a_logout(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    response = await end(client, tokens, session_of(tokens))
    assert response.status_code == 204, response.text
    assert await me(client, tokens) == 401
    assert_refused(await refresh(client, tokens["refresh_token"]))


async def test_another_users_session_is_not_found_and_left_alone(
    client: httpx.AsyncClient, container: Container
) -> None:
    alice = await create_user(client)
    bob = await create_user(client)

    theirs = await end(client, bob, session_of(alice))
    unknown = await end(client, bob, str(uuid.uuid4()))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json() == {"detail": "session not found"}

    assert (await session_row(container, session_of(alice))).revoked_at is None
    assert await me(client, alice) == 200
    assert await me(client, await rotate(client, alice["refresh_token"])) == 200
    assert await me(client, bob) == 200


async def test_the_session_routes_need_a_bearer(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    assert_refused(await client.get("/api/auth/sessions"))
    assert_refused(await client.delete(f"/api/auth/sessions/{session_of(tokens)}"))
    assert await me(client, tokens) == 200
