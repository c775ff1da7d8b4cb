"""Background clean-up and the active-users gauge's notion of 'live'."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text

from pourtier.di.container import Container
from tests.helpers import TestClock, Wallet, create_nonce, create_user


async def nonce_count(container: Container) -> int:
    async with container.engine.connect() as connection:
        return int(
            (
                await connection.execute(text("SELECT count(*) FROM auth_nonces"))
            ).scalar_one()
        )


async def test_expired_nonces_are_purged_and_live_ones_kept(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    await create_nonce(client, Wallet())
    clock.offset = timedelta(minutes=6)
    await create_nonce(client, Wallet())
    assert await nonce_count(container) == 2
    assert await container.auth.purge_expired_nonces() == 1
    assert await nonce_count(container) == 1


async def test_active_users_excludes_sessions_whose_refresh_token_expired(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    await create_user(client)
    await container.refresh_gauges()
    assert container.metrics.users_active._value.get() == 1
    clock.offset = timedelta(days=31)
    await container.refresh_gauges()
    assert container.metrics.users_active._value.get() == 0
