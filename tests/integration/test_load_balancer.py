"""Two `pourtier serve` replicas behind a real nginx, as `make cluster` runs
them: RUN_WORKERS=false, one PostgreSQL database, the machine's Redis for the
shared cache and rate limits, nginx in TRUSTED_PROXIES.

- A logout through one replica is honoured by the other at once: its access
  token is refused there on the very next request, though that replica had
  just served it (and cached the session).
- The service sees the real client, not nginx: the session's IP is the
  client's, whatever the client writes into X-Forwarded-For itself, and each
  client has its own sign-in budget, shared by both replicas.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.helpers import bearer, create_user
from tests.support.nginx import PROXY_ADDRESS, Nginx, running_nginx
from tests.support.rpc_server import RpcTestServer
from tests.support.servers import (
    SHARED_REDIS,
    Server,
    server_env,
    start_serve,
    stop_server,
    wait_ready,
)
from tests.support.shared_node import chain_settings

AUTH_BUDGET = 4  # sign-in requests per client and minute


@pytest.fixture
async def replicas(
    container: Container,  # migrates and cleans the test database
    database_url: str,
    tmp_path: Path,
    rpc_server: RpcTestServer,
) -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    try:
        for name in ("replica-a", "replica-b"):
            env = server_env(database_url, tmp_path / name, SHARED_REDIS)
            env.update(chain_settings(rpc_server))
            env.update(
                RATE_LIMIT_ENABLED="true",
                RATE_LIMIT_AUTH=f"{AUTH_BUDGET}/minute",
                TRUSTED_PROXIES=f'["{PROXY_ADDRESS}"]',
            )
            started.append(await start_serve(name, env, tmp_path))
        await asyncio.gather(*(wait_ready(server) for server in started))
        yield started
    finally:
        for server in started:
            await stop_server(server)


@pytest.fixture
async def nginx(replicas: list[Server], tmp_path: Path) -> AsyncIterator[Nginx]:
    upstreams = [server.url.removeprefix("http://") for server in replicas]
    async with running_nginx(tmp_path / "nginx", upstreams) as running:
        yield running


def client_address() -> str:
    """A loopback address of the test's own, not nginx's: a client of its own
    (the machine's Redis keeps rate limits across runs)."""
    while True:
        address = "127." + ".".join(str(random.randint(1, 254)) for _ in range(3))
        if address != PROXY_ADDRESS:
            return address


async def through_each(
    client: httpx.AsyncClient, path: str, tokens: dict[str, Any], count: int = 2
) -> dict[str, int]:
    """GET `path` until each replica answered it; their status by upstream."""
    answered: dict[str, int] = {}
    for _ in range(10):
        response = await client.get(path, headers=bearer(tokens))
        answered[response.headers["x-upstream"]] = response.status_code
        if len(answered) == count:
            return answered
    raise AssertionError(f"nginx did not balance over both replicas: {answered}")


async def test_a_logout_through_one_replica_is_honoured_by_the_other(
    nginx: Nginx, replicas: list[Server]
) -> None:
    async with nginx.client(client_address()) as client:
        tokens = await create_user(client)
        # Both replicas serve the token, and cache its session.
        assert set((await through_each(client, "/api/users/me", tokens)).values()) == {
            200
        }
        logout = await client.post("/api/auth/logout", headers=bearer(tokens))
        assert logout.status_code == 204, logout.text
        by = logout.headers["x-upstream"]
        other = next(s for s in replicas if not s.url.endswith(by))
        # At once, on the replica that did not log it out.
        refused = await other.client.get("/api/users/me", headers=bearer(tokens))
        assert refused.status_code == 401, refused.text
        assert set((await through_each(client, "/api/users/me", tokens)).values()) == {
            401
        }
        refresh = {"refresh_token": tokens["refresh_token"]}
        again = await client.post("/api/auth/refresh", json=refresh)
        assert again.status_code == 401, again.text


async def test_the_service_sees_the_client_behind_nginx_not_nginx(
    nginx: Nginx,
) -> None:
    address = client_address()
    async with nginx.client(address) as client:
        # What a client writes itself is on the left, and never believed.
        client.headers["X-Forwarded-For"] = "198.51.100.23"
        tokens = await create_user(client)
        sessions = await client.get("/api/auth/sessions", headers=bearer(tokens))
        assert sessions.status_code == 200, sessions.text
        assert [s["ip_address"] for s in sessions.json()] == [address]


async def test_each_client_behind_nginx_has_its_own_budget_on_both_replicas(
    nginx: Nginx,
) -> None:
    first, second = client_address(), client_address()
    async with nginx.client(first) as one, nginx.client(second) as two:
        served_by = set()
        for _ in range(AUTH_BUDGET):
            response = await nonce(one)
            assert response.status_code == 200, response.text
            served_by.add(response.headers["x-upstream"])
        assert len(served_by) == 2  # the budget is one across the replicas
        refused = await nonce(one)
        assert refused.status_code == 429, refused.text
        # Another client behind the same nginx is not refused.
        other = await nonce(two)
        assert other.status_code == 200, other.text
        assert other.headers["x-ratelimit-remaining"] == str(AUTH_BUDGET - 1)


async def nonce(client: httpx.AsyncClient) -> httpx.Response:
    wallet = Wallet().address  # a budget of the client's, not of a wallet's
    return await client.post("/api/auth/nonce", json={"wallet_address": wallet})
