"""Two real server processes on one PostgreSQL (and one Redis, or none).

Each is a uvicorn process serving the app with its own cache. A change made
through one must be seen through the other at once: no sleep, no retry.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pourtier.di.container import Container
from pourtier.infrastructure.solana import localnet
from tests.conftest import AUTH_DOMAIN, AUTH_URI, JWT_SECRET
from tests.helpers import Wallet, bearer, create_user

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    client: httpx.AsyncClient
    log: Path

    async def hits(self, layer: str) -> float:
        text = (await self.client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == "pourtier_cache_hits_total"
                    and sample.labels.get("cache_type") == layer
                ):
                    return float(sample.value)
        raise AssertionError(f"no {layer} hit counter")


def server_env(
    database_url: str, data_dir: Path, redis_url: str | None
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DATABASE_", "POURTIER_", "JWT_", "REDIS_", "CACHE_", "RATE_LIMIT_")
        )
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "ENV": "test",
            "JWT_SECRET_KEY": JWT_SECRET,
            "AUTH_DOMAIN": AUTH_DOMAIN,
            "AUTH_URI": AUTH_URI,
            "SOLANA_CLUSTER": "devnet",
            "POURTIER_CONFIG": "/nonexistent/pourtier.yaml",
            "POURTIER_DATA_DIR": str(data_dir),  # its local chain: see `chain`
            "LOCALNET_PORT": "0",
            "RUN_WORKERS": "false",
            "RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def start_server(name: str, env: dict[str, str], tmp_path: Path) -> Server:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "pourtier.presentation.app:create_app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            env=env,
            stdout=sink,
            stderr=sink,
        )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    return Server(name, process, client, log)


async def wait_ready(server: Server) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_SECONDS
    while loop.time() < deadline:
        if server.process.returncode is not None:
            break
        try:
            if (await server.client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{server.name} did not start:\n{server.log.read_text()}")


async def stop_server(server: Server) -> None:
    await server.client.aclose()
    if server.process.returncode is None:
        server.process.terminate()
        try:
            await asyncio.wait_for(server.process.wait(), 15)
        except TimeoutError:
            server.process.kill()
            await server.process.wait()


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
