"""The service through a real PgBouncer in transaction pooling mode.

Two replicas (containers as `pourtier serve` builds them) reach the test
database through one PgBouncer that has fewer server connections than their
pools have clients, so consecutive transactions of one client run on
different server connections, as they do in production. Their LISTEN and
migrations go direct (`DATABASE_DIRECT_URL`). Without `DATABASE_POOLER=
transaction` the sign-ins below fail: asyncpg's named statements
(`__asyncpg_stmt_1__`, numbered per client connection) clash or go missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.pool import QueuePool

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.persistence import migrate
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, Serve
from tests.helpers import bearer, create_user, login
from tests.subscription_helpers import BASIC, charges, escrow_balance, subscribe
from tests.support.db import fetch_value
from tests.support.escrow import create_funded_escrow
from tests.support.pgbouncer import SERVER_CONNECTIONS, transaction_pooler

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

SIGN_INS = 40


@pytest.fixture
async def replicas(
    serve: Serve, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Container, Container]]:
    async with (
        transaction_pooler(database_url, tmp_path) as pooled,
        serve(
            DATABASE_URL=pooled,
            DATABASE_POOLER="transaction",
            DATABASE_DIRECT_URL=database_url,
        ) as first,
        serve(
            DATABASE_URL=pooled,
            DATABASE_POOLER="transaction",
            DATABASE_DIRECT_URL=database_url,
        ) as second,
    ):
        for replica in (first, second):
            await replica.invalidations.start()
            assert replica.cache.coherent, "the replica cannot hear invalidations"
        yield first, second


def client_of(replica: Container) -> httpx.AsyncClient:
    app = create_app(replica, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))
    return httpx.AsyncClient(transport=transport, base_url=AUTH_URI)


async def test_many_concurrent_sign_ins_share_the_server_connections(
    replicas: tuple[Container, Container],
) -> None:
    first, second = replicas
    async with client_of(first) as one, client_of(second) as other:

        async def sign_in(index: int) -> dict[str, Any]:
            client = (one, other)[index % 2]
            wallet = Wallet()
            registered = await create_user(client, wallet)
            again = await login(client, wallet)
            assert again["user"]["id"] == registered["user"]["id"]
            me = await client.get("/api/users/me", headers=bearer(again))
            assert me.status_code == 200, me.text
            return again

        signed_in = await asyncio.gather(*(sign_in(i) for i in range(SIGN_INS)))

    assert len({tokens["user"]["id"] for tokens in signed_in}) == SIGN_INS
    # Each replica's pool opened more client connections than PgBouncer has
    # server connections: they were shared.
    pools = [replica.engine.sync_engine.pool for replica in replicas]
    opened = [pool.checkedin() for pool in pools if isinstance(pool, QueuePool)]
    assert max(opened) > SERVER_CONNECTIONS, opened
    assert await fetch_value(first, "SELECT count(*) FROM users") == SIGN_INS


async def test_a_change_through_one_replica_is_read_at_once_through_the_other(
    replicas: tuple[Container, Container],
) -> None:
    first, second = replicas
    async with client_of(first) as reader, client_of(second) as writer:
        tokens = await create_user(reader)
        await first.invalidations.barrier()
        cached = await reader.get("/api/users/me", headers=bearer(tokens))
        assert cached.json()["display_name"] is None
        before = first.metrics.registry.get_sample_value("pourtier_db_queries_total")
        again = await reader.get("/api/users/me", headers=bearer(tokens))
        after = first.metrics.registry.get_sample_value("pourtier_db_queries_total")
        assert again.json() == cached.json()
        assert after == before, "the profile was not served from the cache"

        patched = await writer.patch(
            "/api/users/me", json={"display_name": "Ada"}, headers=bearer(tokens)
        )
        assert patched.status_code == 200, patched.text
        # The NOTIFY of that commit reached the first replica's direct LISTEN.
        await first.invalidations.barrier()
        me = await reader.get("/api/users/me", headers=bearer(tokens))
        assert me.json()["display_name"] == "Ada"


async def test_a_subscription_is_charged_on_chain_through_the_pooler(
    replicas: tuple[Container, Container],
) -> None:
    first, second = replicas
    async with client_of(first) as client, client_of(second) as other:
        wallet, tokens = await create_funded_escrow(client, first, deposit="100")
        await second.invalidations.barrier()
        before = await other.get("/api/subscriptions/check", headers=bearer(tokens))
        assert before.json()["has_access"] is False

        response = await subscribe(client, tokens, "basic")
        assert response.status_code == 201, response.text

        await second.invalidations.barrier()
        after = await other.get("/api/subscriptions/check", headers=bearer(tokens))
    assert after.json()["has_access"] is True
    assert await escrow_balance(first, wallet) == 100_000_000 - BASIC
    assert [(c.kind, c.status, int(c.amount)) for c in await charges(first)] == [
        ("initial", "confirmed", BASIC)
    ]


async def test_migrations_go_direct(replicas: tuple[Container, Container]) -> None:
    """The advisory lock and DDL want one session: the direct engine's."""
    first, _ = replicas
    assert first.direct_engine is not first.engine
    await migrate.upgrade(first.direct_engine)
    assert await migrate.current_revision(first.direct_engine) == (
        migrate.head_revision()
    )
