"""Rate limits over HTTP: per client IP and per user (per wallet: in
test_sign_in_budget.py); shared through a real Redis; falling back to memory
while a real Redis server is killed."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.rate_limiter import KEY_PREFIX
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, Serve
from tests.helpers import bearer, create_user
from tests.logs import captured_json_logs

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def random_ip() -> str:
    """A fresh address per test run, so runs sharing a Redis never collide."""
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


def random_ipv6_prefix() -> str:
    """The first four groups (a /64) of a fresh documentation address."""
    return "2001:db8:" + ":".join(f"{random.randint(0, 0xFFFF):x}" for _ in range(2))


@asynccontextmanager
async def client_of(
    built: Container, ip: str, port: int = 40000
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(built, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=(ip, port))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        yield client


async def nonce(
    client: httpx.AsyncClient,
    wallet: Wallet | None = None,
    forwarded_for: str | None = None,
) -> httpx.Response:
    address = (wallet or Wallet()).address
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(
        "/api/auth/nonce", json={"wallet_address": address}, headers=headers
    )


def limit_state(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


def assert_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert "too many requests" in response.json()["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    got_limit, remaining, reset = limit_state(response)
    assert (got_limit, remaining) == (limit, 0)
    assert 1 <= reset <= 60


# --- per client IP, sign-in ----------------------------------------------------


async def test_sign_in_is_limited_per_ip_with_headers_and_429(serve: Serve) -> None:
    async with (
        serve(RATE_LIMIT_AUTH="3/minute") as built,
        client_of(built, random_ip()) as client,
    ):
        seen = []
        for _ in range(2):
            allowed = await nonce(client)
            assert allowed.status_code == 200, allowed.text
            seen.append(limit_state(allowed))
        # A refused body still counts, and its answer carries the headers.
        invalid = await client.post("/api/auth/verify", json={})
        assert invalid.status_code == 422
        seen.append(limit_state(invalid))
        budgets = [(limit, left) for limit, left, _ in seen]
        assert budgets == [(3, 2), (3, 1), (3, 0)]
        assert all(0 < reset <= 60 for _, _, reset in seen)

        assert_limited(await nonce(client), 3)
        # Every sign-in route draws on the same budget.
        for path in ("verify", "register", "login", "refresh"):
            assert_limited(await client.post(f"/api/auth/{path}", json={}), 3)
        # /health and /metrics are never limited, nor do they report limits.
        for path in ("/health", "/metrics"):
            response = await client.get(path)
            assert response.status_code == 200, response.text
            assert "x-ratelimit-limit" not in response.headers


async def test_each_client_ip_has_its_own_budget(serve: Serve) -> None:
    first, second = random_ip(), random_ip()
    async with (
        serve(RATE_LIMIT_AUTH="2/minute") as built,
        client_of(built, first) as a,
        client_of(built, second) as b,
    ):
        assert (await nonce(a)).status_code == 200
        assert (await nonce(a)).status_code == 200
        assert_limited(await nonce(a), 2)
        other = await nonce(b)
        assert other.status_code == 200, other.text
        assert limit_state(other)[:2] == (2, 1)


async def test_an_ipv6_client_is_limited_by_its_64_prefix(serve: Serve) -> None:
    prefix, other = random_ipv6_prefix(), random_ipv6_prefix()
    async with (
        serve(RATE_LIMIT_AUTH="2/minute") as built,
        client_of(built, f"{prefix}:1:2:3:4") as a,
        client_of(built, f"{prefix}:ffff::9") as same_prefix,
        client_of(built, f"{other}::1") as other_prefix,
    ):
        assert (await nonce(a)).status_code == 200
        assert (await nonce(same_prefix)).status_code == 200
        assert_limited(await nonce(a), 2)
        assert_limited(await nonce(same_prefix), 2)
        assert (await nonce(other_prefix)).status_code == 200


# --- who the client is -----------------------------------------------------------


async def session_ip(built: Container, wallet: Wallet) -> str | None:
    async with built.engine.connect() as connection:
        found = await connection.scalar(
            text(
                "SELECT s.ip_address FROM auth_sessions s JOIN users u "
                "ON u.id = s.user_id WHERE u.wallet_address = :w"
            ),
            {"w": wallet.address},
        )
    return None if found is None else str(found)


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(serve: Serve) -> None:
    peer = random_ip()
    trusted = ["192.0.2.0/24"]
    async with (
        serve(RATE_LIMIT_AUTH="5/minute", TRUSTED_PROXIES=trusted) as built,
        client_of(built, peer) as client,
    ):
        wallet = Wallet()
        spoof = {"X-Forwarded-For": "198.51.100.1"}
        await create_user_with_headers(client, wallet, spoof)
        assert await session_ip(built, wallet) == peer
        # Picking a new address per request does not buy a new budget.
        for i in range(2, 10):
            response = await nonce(client, None, f"198.51.100.{i}")
            if response.status_code == 429:
                break
        else:
            pytest.fail("a client escaped its limit with X-Forwarded-For")
        assert_limited(response, 5)


async def create_user_with_headers(
    client: httpx.AsyncClient, wallet: Wallet, headers: dict[str, str]
) -> dict[str, Any]:
    """Sign-up in two sign-in requests (documents read, nonce, register)."""
    documents = await client.get("/api/legal/documents", headers=headers)
    forwarded = headers.get("X-Forwarded-For")
    message = (await nonce(client, wallet, forwarded)).json()["message"]
    body = {
        "wallet_address": wallet.address,
        "message": message,
        "signature": wallet.sign_message(message),
        "accepted_document_ids": [d["id"] for d in documents.json()],
    }
    response = await client.post("/api/auth/register", json=body, headers=headers)
    assert response.status_code == 201, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def test_forwarded_for_from_a_trusted_proxy_is_honoured(serve: Serve) -> None:
    proxy, first, second = "192.0.2.10", random_ip(), random_ip()
    async with (
        serve(
            RATE_LIMIT_AUTH="3/minute", TRUSTED_PROXIES=["192.0.2.0/24", "10.255.0.1"]
        ) as built,
        client_of(built, proxy) as client,
    ):
        wallet = Wallet()
        # What the client wrote itself stays on the left and is skipped; a
        # second trusted hop on the right is skipped too.
        via = {"X-Forwarded-For": f"203.0.113.99, {first}, 10.255.0.1"}
        await create_user_with_headers(client, wallet, via)
        assert await session_ip(built, wallet) == first
        # `first` used two sign-in requests: one left, whatever it claims.
        spoofed = f"198.51.100.77, {first}"
        assert limit_state(await nonce(client, None, spoofed))[:2] == (3, 0)
        assert_limited(await nonce(client, None, first), 3)
        # Another client behind the same proxy has its own budget.
        other = await nonce(client, None, second)
        assert other.status_code == 200
        assert limit_state(other)[:2] == (3, 2)


# --- per user, reads and writes --------------------------------------------------


async def test_reads_are_limited_per_user_and_writes_separately(serve: Serve) -> None:
    async with (
        serve(RATE_LIMIT_READ="3/minute", RATE_LIMIT_WRITE="2/minute") as built,
        client_of(built, random_ip()) as setup,
    ):
        alice = await create_user(setup)
        async with client_of(built, random_ip()) as setup:
            bob = await create_user(setup)
        async with (
            client_of(built, random_ip()) as home,
            client_of(built, random_ip()) as office,
            client_of(built, random_ip()) as elsewhere,
        ):
            for remaining in (2, 1):
                response = await home.get("/api/users/me", headers=bearer(alice))
                assert response.status_code == 200, response.text
                assert limit_state(response)[:2] == (3, remaining)
            # Alice's third read from another IP: her budget, not the IP's.
            response = await office.get("/api/legal/compliance", headers=bearer(alice))
            assert limit_state(response)[:2] == (3, 0)
            assert_limited(await office.get("/api/users/me", headers=bearer(alice)), 3)
            # Bob is not affected, nor are Alice's writes.
            response = await elsewhere.get("/api/users/me", headers=bearer(bob))
            assert response.status_code == 200
            patched = await home.patch(
                "/api/users/me", json={"display_name": "A"}, headers=bearer(alice)
            )
            assert patched.status_code == 200, patched.text
            assert limit_state(patched)[:2] == (2, 1)


async def test_bad_tokens_are_limited_per_ip_before_authentication(
    serve: Serve,
) -> None:
    async with (
        serve(RATE_LIMIT_READ="3/minute") as built,
        client_of(built, random_ip()) as client,
    ):
        forged = {"Authorization": "Bearer not-a-token"}
        for remaining in (2, 1, 0):
            response = await client.get("/api/users/me", headers=forged)
            assert response.status_code == 401
            assert limit_state(response)[:2] == (3, remaining)
        assert_limited(await client.get("/api/users/me", headers=forged), 3)


async def test_disabled_limiting_adds_no_headers_and_never_refuses(
    serve: Serve,
) -> None:
    off: dict[str, object] = {"RATE_LIMIT_ENABLED": False}
    budgets = {"RATE_LIMIT_AUTH": "1/minute", "RATE_LIMIT_READ": "1/minute"}
    async with serve(**off, **budgets) as built:
        assert built.rate_limiter is None
        async with client_of(built, random_ip()) as client:
            tokens = await create_user(client)
            responses = [await nonce(client) for _ in range(3)]
            for path in ("/api/users/me", "/api/subscriptions/check"):
                responses += [
                    await client.get(path, headers=bearer(tokens)) for _ in range(3)
                ]
                # Authentication still guards them.
                assert (await client.get(path)).status_code == 401
            for response in responses:
                assert response.status_code == 200, response.text
                assert not any(h in response.headers for h in LIMIT_HEADERS)


# --- Redis ---------------------------------------------------------------------


async def test_redis_backed_budget_is_shared_by_two_instances(serve: Serve) -> None:
    ip = random_ip()
    settings: dict[str, object] = {
        "REDIS_URL": LOCAL_REDIS,
        "RATE_LIMIT_AUTH": "4/minute",
    }
    async with serve(**settings) as one, serve(**settings) as two:
        async with client_of(one, ip) as a, client_of(two, ip) as b:
            remaining = []
            for client in (a, b, a, b):
                response = await nonce(client)
                assert response.status_code == 200, response.text
                remaining.append(limit_state(response)[1])
            assert remaining == [3, 2, 1, 0]
            assert_limited(await nonce(a), 4)
            assert_limited(await nonce(b), 4)
        assert one.rate_limiter is not None
        assert two.rate_limiter is not None
        assert one.rate_limiter.backend == two.rate_limiter.backend == "redis"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RedisServer:
    """A real `redis-server` of the test's own, to kill and restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None
        self.process = subprocess.Popen(  # noqa: S603
            [
                *(executable, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def limiter_keys(url: str) -> list[bytes]:
    redis = Redis.from_url(url)
    try:
        return [key async for key in redis.scan_iter(match=f"{KEY_PREFIX}*")]
    finally:
        await redis.aclose()


async def test_a_dead_redis_degrades_to_memory_and_recovers(
    serve: Serve, redis_server: RedisServer
) -> None:
    settings: dict[str, object] = {
        "RATE_LIMIT_REDIS_URL": redis_server.url,
        "RATE_LIMIT_AUTH": "3/minute",
        "RATE_LIMIT_STORE_RETRY_SECONDS": 0.3,
    }
    ip = random_ip()
    async with serve(**settings) as one, serve(**settings) as two:
        assert one.rate_limiter is not None
        assert two.rate_limiter is not None
        async with client_of(one, ip) as a, client_of(two, ip) as b:
            assert limit_state(await nonce(a))[1] == 2
            assert limit_state(await nonce(b))[1] == 1
            assert await limiter_keys(redis_server.url)

            with captured_json_logs() as lines:
                redis_server.kill()
                # Never refused because the store is down: each process now
                # keeps its own budget in memory, and still enforces it.
                for client in (a, b):
                    began = time.monotonic()
                    for remaining in (2, 1, 0):
                        response = await nonce(client)
                        assert response.status_code == 200, response.text
                        assert limit_state(response)[1] == remaining
                    assert_limited(await nonce(client), 3)
                    assert time.monotonic() - began < 5
                await asyncio.sleep(0.35)  # Redis is probed again, still dead
                assert_limited(await nonce(a), 3)
                assert one.rate_limiter.backend == "memory"
                assert two.rate_limiter.backend == "memory"

                redis_server.start()
                await asyncio.sleep(0.35)
                ip = random_ip()
                async with client_of(one, ip) as c, client_of(two, ip) as d:
                    # Shared through the restarted Redis again: one budget.
                    assert limit_state(await nonce(c))[1] == 2
                    assert limit_state(await nonce(d))[1] == 1
                    assert limit_state(await nonce(c))[1] == 0
                    assert_limited(await nonce(d), 3)
                assert one.rate_limiter.backend == "redis"
                assert two.rate_limiter.backend == "redis"
                assert await limiter_keys(redis_server.url)

    messages = [line["message"] for line in lines()]
    # Said once per outage and per process, however often Redis is retried.
    assert sum("store unreachable" in m for m in messages) == 2, messages
    assert sum("store reachable again" in m for m in messages) == 2, messages
