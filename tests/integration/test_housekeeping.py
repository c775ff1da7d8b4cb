"""Background clean-up and the active-users gauge's notion of 'live'."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.sign_in import NONCE_TTL
from tests.conftest import Serve
from tests.helpers import TestClock, create_nonce, create_user


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


async def test_a_running_service_purges_expired_nonces_on_its_cadence(
    client: httpx.AsyncClient, serve: Serve, clock: TestClock
) -> None:
    """Rows live at most a nonce's lifetime plus one cadence, so a flood's
    leftovers go within minutes, not at the next restart."""
    assert Container.housekeeping_seconds <= NONCE_TTL.total_seconds() / 5
    async with serve(RUN_WORKERS=False) as built:
        built.housekeeping_seconds = 0.05
        await built.start()
        for _ in range(3):
            for _ in range(5):
                await create_nonce(client, Wallet())
            assert await nonce_count(built) >= 5
            clock.offset += NONCE_TTL + timedelta(seconds=1)
            for _ in range(250):
                if await nonce_count(built) == 0:
                    break
                await asyncio.sleep(0.02)
            else:
                pytest.fail("expired nonces outlived several housekeeping passes")
