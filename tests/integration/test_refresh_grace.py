"""The refresh grace honours a rotated token exactly once more (the second tab).

A rotated token that could be redeemed again and again within the grace would
let a thief start a parallel chain that reuse detection never sees; a third
use of a token therefore ends its whole session, however close together the
uses come.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.di.container import Container
from tests.helpers import create_user
from tests.integration.test_sessions import (
    assert_refused,
    me,
    refresh,
    rotate,
    rows,
    session_of,
    session_row,
    sha256,
)

if TYPE_CHECKING:
    from tests.helpers import TestClock

LOCK_WAIT_POLLS = 500


async def children(container: Container, refresh_token: str) -> int:
    [(count,)] = await rows(
        container,
        "SELECT count(*) FROM refresh_tokens WHERE parent_id = "
        "(SELECT id FROM refresh_tokens WHERE token_hash = :h)",
        h=sha256(refresh_token),
    )
    return int(count)


async def assert_session_ended(
    client: httpx.AsyncClient, container: Container, *tabs: dict[str, Any]
) -> None:
    row = await session_row(container, session_of(tabs[0]))
    assert row.revoked_reason == "token_reuse"
    for tab in tabs:
        assert await me(client, tab) == 401
        assert_refused(await refresh(client, tab["refresh_token"]))


async def test_a_third_use_within_the_grace_ends_the_session(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    first = await create_user(client)
    tab_a = await rotate(client, first["refresh_token"])
    clock.offset = timedelta(seconds=3)
    tab_b = await rotate(client, first["refresh_token"])  # the second tab
    assert await me(client, tab_b) == 200

    clock.offset = timedelta(seconds=5)
    response = await refresh(client, first["refresh_token"])
    assert_refused(response)
    assert "already used" in response.json()["detail"]

    await assert_session_ended(client, container, tab_a, tab_b)
    assert await children(container, first["refresh_token"]) == 2


async def waiting_on_locks(container: Container) -> int:
    [(count,)] = await rows(
        container,
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return int(count)


@pytest.mark.parametrize("racers", [2, 5])
async def test_concurrent_uses_within_the_grace_admit_exactly_one(
    client: httpx.AsyncClient, container: Container, racers: int
) -> None:
    """The racers are all held at the token's row lock, then let go at once."""
    first = await create_user(client)
    tab_a = await rotate(client, first["refresh_token"])

    async with container.engine.connect() as holder:
        await holder.execute(
            text("SELECT id FROM refresh_tokens WHERE token_hash = :h FOR UPDATE"),
            {"h": sha256(first["refresh_token"])},
        )
        tasks = [
            asyncio.create_task(refresh(client, first["refresh_token"]))
            for _ in range(racers)
        ]
        for _ in range(LOCK_WAIT_POLLS):
            if await waiting_on_locks(container) >= racers:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the racers never queued on the token's row lock")
        await holder.rollback()
    responses = await asyncio.gather(*tasks)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * (racers - 1), [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    # The losers end the session, the winner's tokens with it; nobody got a
    # sibling beyond the one the grace allows.
    await assert_session_ended(client, container, tab_a, winner)
    assert await children(container, first["refresh_token"]) == 2
