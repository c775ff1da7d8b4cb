"""Two real server processes on one PostgreSQL (and one Redis, or none).

Each is a uvicorn process serving the app with its own cache. A change made
through one must be seen through the other at once: no sleep, no retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.solana import localnet
from tests.helpers import bearer, create_user
from tests.support.servers import (
    Server,
    server_env,
    start_server,
    stop_server,
    wait_ready,
)

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class Pair:
    a: Server
    b: Server
    redis: bool


@pytest.fixture(params=["redis", "notify-only"])
async def servers(
    request: pytest.FixtureRequest,
    container: Container,  # migrates the test database
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Pair]:
    redis_url = LOCAL_REDIS if request.param == "redis" else None
    started: list[Server] = []
    # Plain uvicorn processes find the data directory's chain; `serve` would
    # start it, here the fixture does.
    chain = localnet.ensure(tmp_path / "chain", port=0)
    try:
        for name in ("a", "b"):
            env = server_env(database_url, tmp_path, redis_url)
            started.append(await start_server(name, env, tmp_path))
        await asyncio.gather(*(wait_ready(s) for s in started))
        yield Pair(started[0], started[1], redis_url is not None)
    finally:
        await asyncio.gather(*(stop_server(s) for s in started))
        chain.leave()


async def cached_me(server: Server, tokens: dict[str, Any]) -> dict[str, Any]:
    """GET /api/users/me until it is served from this server's L1."""
    await server.client.get("/api/users/me", headers=bearer(tokens))
    hits = await server.hits("L1")
    response = await server.client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    assert await server.hits("L1") >= hits + 5, f"{server.name} did not cache"
    body: dict[str, Any] = response.json()
    return body


async def test_a_change_through_one_server_is_seen_through_the_other_at_once(
    servers: Pair,
) -> None:
    a, b = servers.a, servers.b
    tokens = await create_user(a.client, Wallet())
    assert (await cached_me(b, tokens))["display_name"] is None
    shared = await a.hits("L2")
    assert (await cached_me(a, tokens))["display_name"] is None
    # With Redis, what B loaded is shared: A's first read found it in L2.
    assert (await a.hits("L2") > shared) is servers.redis

    for writer, reader, name in [(a, b, "Set through A"), (b, a, "Set through B")]:
        patched = await writer.client.patch(
            "/api/users/me", json={"display_name": name}, headers=bearer(tokens)
        )
        assert patched.status_code == 200, patched.text
        seen = await reader.client.get("/api/users/me", headers=bearer(tokens))
        assert seen.json()["display_name"] == name, reader.name
        assert (await cached_me(reader, tokens))["display_name"] == name


async def test_a_logout_through_one_server_is_refused_by_the_other_at_once(
    servers: Pair,
) -> None:
    a, b = servers.a, servers.b
    tokens = await create_user(a.client, Wallet())
    await cached_me(a, tokens)
    await cached_me(b, tokens)
    check = await b.client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert check.status_code == 200, check.text

    out = await a.client.post("/api/auth/logout", headers=bearer(tokens))
    assert out.status_code == 204, out.text

    for path in ("/api/users/me", "/api/subscriptions/check"):
        refused = await b.client.get(path, headers=bearer(tokens))
        assert refused.status_code == 401, (path, refused.text)
    again = await a.client.get("/api/users/me", headers=bearer(tokens))
    assert again.status_code == 401
