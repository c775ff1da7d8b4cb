"""Redis killed, frozen or restarted under traffic: no request fails, L2 comes back.

The Redis here is a `redis-server` process of the test's own, so it can be
SIGKILLed, SIGSTOPped and restarted on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from pourtier.di.container import Container
from pourtier.domain.cache import user_key
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import TestClock, bearer, create_user

RETRY_SECONDS = 0.3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisProcess:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not on PATH"
        self.process = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        probe = Redis.from_url(self.url)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):  # not up yet
                    if await probe.ping():
                        return
                await asyncio.sleep(0.05)
        finally:
            await probe.aclose()
        raise AssertionError("redis-server did not start")

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no goodbye to clients
        await asyncio.wait_for(self.process.wait(), 5)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGCONT)
            await self.kill()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def served(
    container: Container,  # the migrated test database, cleaned per test
    database_url: str,
    data_dir: Path,
    clock: TestClock,
    redis_server: RedisProcess,
) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    settings = make_settings(
        database_url,
        data_dir,
        REDIS_URL=redis_server.url,
        RUN_WORKERS=False,
        CACHE_REDIS_TIMEOUT_SECONDS=0.2,
        CACHE_REDIS_RETRY_SECONDS=RETRY_SECONDS,
    )
    built = build_test_container(settings, clock=clock)
    await built.start()
    transport = httpx.ASGITransport(
        app=create_app(built, manage_lifespan=False), client=("203.0.113.9", 1)
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
            yield built, client
    finally:
        await built.stop()


def hits(container: Container, layer: str) -> float:
    value = container.metrics.registry.get_sample_value(
        "pourtier_cache_hits_total", {"cache_type": layer}
    )
    return value or 0.0


async def l2_back(container: Container) -> None:
    l2 = container.cache.l2
    assert l2 is not None
    for _ in range(100):
        if l2.available:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("L2 did not come back on its own")


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def traffic(
    container: Container, client: httpx.AsyncClient, tokens: dict[str, Any], n: int
) -> list[int]:
    """Requests as another worker would see them: L1 often empty."""
    codes = []
    for i in range(n):
        if i % 3 == 0:
            container.cache.l1.clear()
        for path in ("/api/users/me", "/api/subscriptions/check"):
            response = await client.get(path, headers=bearer(tokens))
            codes.append(response.status_code)
        await asyncio.sleep(0.005)
    return codes


async def test_redis_killed_mid_traffic_then_restarted(
    served: tuple[Container, httpx.AsyncClient], redis_server: RedisProcess
) -> None:
    container, client = served
    tokens = await create_user(client)
    await container.invalidations.barrier()
    await me(client, tokens)  # loaded once: now in L1 and L2

    container.cache.l1.clear()  # as another worker process would be
    shared = hits(container, "L2")
    await me(client, tokens)
    # session, user, active documents, accepted ids: all from Redis
    assert hits(container, "L2") == shared + 4

    running = asyncio.create_task(traffic(container, client, tokens, 60))
    await asyncio.sleep(0.1)
    await redis_server.kill()
    codes = await running
    assert set(codes) == {200}

    l2 = container.cache.l2
    assert l2 is not None
    assert not l2.available
    frozen = hits(container, "L2")
    renamed = await client.patch(
        "/api/users/me",
        json={"display_name": "During the outage"},
        headers=bearer(tokens),
    )
    assert renamed.status_code == 200, renamed.text
    assert set(await traffic(container, client, tokens, 10)) == {200}
    assert hits(container, "L2") == frozen  # nothing counted from a dead Redis
    assert (await me(client, tokens))["display_name"] == "During the outage"

    await redis_server.start()  # same port, empty
    await l2_back(container)
    container.cache.l1.clear()
    assert (await me(client, tokens))["display_name"] == "During the outage"
    container.cache.l1.clear()
    assert (await me(client, tokens))["display_name"] == "During the outage"
    assert hits(container, "L2") == frozen + 4
    assert l2.outages == 1


async def test_a_frozen_redis_costs_a_timeout_once_and_never_a_stale_value(
    served: tuple[Container, httpx.AsyncClient], redis_server: RedisProcess
) -> None:
    container, client = served
    tokens = await create_user(client)
    await container.invalidations.barrier()
    await me(client, tokens)  # the unnamed profile is now in Redis too
    l2 = container.cache.l2
    assert l2 is not None

    redis_server.signal(signal.SIGSTOP)
    try:
        container.cache.l1.clear()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await me(client, tokens)  # waits for one Redis timeout, then the database
        assert loop.time() - started < 2
        assert not l2.available
        started = loop.time()
        assert set(await traffic(container, client, tokens, 10)) == {200}
        assert loop.time() - started < 2  # the open circuit costs nothing
        # A write while Redis cannot be told: its old copy there is now stale.
        renamed = await client.patch(
            "/api/users/me", json={"display_name": "Fresh"}, headers=bearer(tokens)
        )
        assert renamed.status_code == 200, renamed.text
    finally:
        redis_server.signal(signal.SIGCONT)

    await l2_back(container)
    shared = hits(container, "L2")
    container.cache.l1.clear()
    # The comeback emptied the namespace: the stale profile is never served.
    assert (await me(client, tokens))["display_name"] == "Fresh"
    container.cache.l1.clear()
    assert (await me(client, tokens))["display_name"] == "Fresh"
    assert hits(container, "L2") > shared


async def test_an_l2_value_that_does_not_decode_is_a_miss_and_is_replaced(
    served: tuple[Container, httpx.AsyncClient],
) -> None:
    container, client = served
    tokens = await create_user(client)
    await container.invalidations.barrier()
    first = await client.get("/api/users/me", headers=bearer(tokens))
    l2 = container.cache.l2
    assert l2 is not None
    assert first.status_code == 200
    stored = f"{l2.namespace}:v:{user_key(uuid.UUID(tokens['user']['id']))}"
    assert await l2.redis.get(stored) is not None
    await l2.redis.set(stored, b'{"not": "a user"}')
    container.cache.l1.clear()  # as another worker process would be

    again = await client.get("/api/users/me", headers=bearer(tokens))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    replaced = await l2.redis.get(stored)
    assert replaced is not None
    assert json.loads(replaced)["id"] == tokens["user"]["id"]
