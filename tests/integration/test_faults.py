"""Faults injected into real processes and connections, then the books checked.

- Every PostgreSQL connection of the app terminated (`pg_terminate_backend`)
  mid-traffic: only requests in flight may fail, with a 503 `{detail}`; those
  after it succeed, and no transaction is left half-written.
- `pourtier worker` processes SIGKILLed while they hold submitted transactions
  and subscription charges: after a fresh worker runs, the ledger equals the
  chain and nothing was charged or credited twice. The chain is the JSON-RPC
  node of tests/support, which several processes can share (the in-process
  local chain belongs to one process).
- `pourtier serve` sent SIGTERM under load: requests in flight complete, new
  connections are refused.
"""

from __future__ import annotations

import asyncio
import signal
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import Response

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.persistence.database import to_async_url
from pourtier.infrastructure.solana.token_accounts import decode_token_account
from tests.conftest import (
    AUTH_DOMAIN,
    AUTH_URI,
    TEST_RATE_LIMIT,
)
from tests.helpers import (
    active_document_ids,
    bearer,
    create_signed_message,
    create_user,
)
from tests.subscription_helpers import subscribe
from tests.support.escrow import ledger_balance, prepare_and_submit
from tests.support.processes import COMMAND, free_port
from tests.support.rpc_server import RpcTestServer
from tests.support.shared_node import api_client, node_container, node_env


def plain_dsn(database_url: str) -> str:
    """asyncpg's form of the SQLAlchemy URL."""
    return to_async_url(database_url).replace("postgresql+asyncpg://", "postgresql://")


async def rows(
    container: Container, sql: str, commit: bool = False, **params: Any
) -> list[Any]:
    begin = container.engine.begin if commit else container.engine.connect
    async with begin() as connection:
        return list((await connection.execute(text(sql), params)).all())


# --- PostgreSQL connections terminated --------------------------------------------


@dataclass
class Outcome:
    kind: str
    started: float
    status: int
    body: Any
    wallet: str | None = None


@dataclass
class Traffic:
    client: httpx.AsyncClient
    outcomes: list[Outcome] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(
        self, kind: str, method: str, url: str, wallet: str | None = None, **kw: Any
    ) -> Outcome:
        started = time.monotonic()
        response = await self.client.request(method, url, **kw)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        outcome = Outcome(kind, started, response.status_code, body, wallet)
        self.outcomes.append(outcome)
        return outcome

    async def reads_and_writes(self, tokens: dict[str, Any], name: str) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            await self.request("read", "GET", "/api/users/me", headers=bearer(tokens))
            await self.request(
                "write",
                "PATCH",
                "/api/users/me",
                json={"display_name": f"{name}-{count}"},
                headers=bearer(tokens),
            )

    async def registrations(self, bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            if self.stop.is_set():
                return
            await self.request(
                "register",
                "POST",
                "/api/auth/register",
                wallet=body["wallet_address"],
                json=body,
            )


async def signed_registration(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = await create_signed_message(client, Wallet())
    body["accepted_document_ids"] = await active_document_ids(client)
    return body


async def terminate_app_connections(dsn: str) -> list[int]:
    """Kill every other session of the test database; wait until they are gone."""
    admin = await asyncpg.connect(dsn)
    try:
        # Chosen first, killed second: in one WHERE clause PostgreSQL may call
        # pg_terminate_backend before the filters, on other databases' sessions.
        chosen = [
            row["pid"]
            for row in await admin.fetch(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
        killed = [
            row["pid"]
            for row in await admin.fetch(
                "SELECT pid FROM unnest($1::int[]) AS pid "
                "WHERE pg_terminate_backend(pid)",
                chosen,
            )
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = any($1::int[])",
                killed,
            )
            if not alive:
                break
            await asyncio.sleep(0.01)
        return killed
    finally:
        await admin.close()


async def test_terminated_connections_fail_only_requests_in_flight(
    client: httpx.AsyncClient, container: Container, database_url: str
) -> None:
    users = [await create_user(client) for _ in range(6)]
    bodies = [await signed_registration(client) for _ in range(60)]
    traffic = Traffic(client)
    tasks = [
        asyncio.create_task(traffic.reads_and_writes(tokens, f"u{i}"))
        for i, tokens in enumerate(users)
    ]
    tasks += [
        asyncio.create_task(traffic.registrations(bodies[i::4])) for i in range(4)
    ]
    await asyncio.sleep(0.3)
    pool: Any = container.engine.pool
    await until(lambda: pool.checkedout() > 0, "a request to hold a connection")
    checked_out = pool.checkedout()
    killed = await terminate_app_connections(plain_dsn(database_url))
    settled = time.monotonic()
    await asyncio.sleep(0.6)
    traffic.stop.set()
    await asyncio.gather(*tasks)

    print(
        f"killed {len(killed)} connections ({checked_out} in use); "
        f"{sum(o.status == 503 for o in traffic.outcomes)} of "
        f"{len(traffic.outcomes)} requests failed"
    )
    assert checked_out > 0, "the kill was meant to land mid-traffic"
    assert killed, "no connection was terminated"
    statuses = {o.status for o in traffic.outcomes}
    assert statuses <= {200, 201, 503}, statuses
    failed = [o for o in traffic.outcomes if o.status == 503]
    for outcome in failed:
        assert isinstance(outcome.body, dict), outcome.body
        assert isinstance(outcome.body["detail"], str), outcome.body
        assert outcome.started < settled, "a request after the kill failed"
    assert len(failed) <= len(killed), (len(failed), len(killed))
    after = [o for o in traffic.outcomes if o.started >= settled]
    assert len(after) >= 10, "too little traffic after the kill to judge it"
    assert all(o.status in (200, 201) for o in after)

    # The next requests, of every kind, succeed.
    for tokens in users:
        me = await client.get("/api/users/me", headers=bearer(tokens))
        assert me.status_code == 200, me.text
        patched = await client.patch(
            "/api/users/me", json={"display_name": "after"}, headers=bearer(tokens)
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["display_name"] == "after"
    assert (await create_user(client))["user"]["id"]

    # No half-written registration: each user has every part of one, and a
    # registration refused with 503 either never happened or happened whole.
    incomplete = await rows(
        container,
        "SELECT u.wallet_address FROM users u WHERE "
        "(SELECT count(*) FROM legal_acceptances a WHERE a.user_id = u.id) <> 3 "
        "OR NOT EXISTS (SELECT 1 FROM auth_sessions s JOIN refresh_tokens r "
        "ON r.session_id = s.id WHERE s.user_id = u.id)",
    )
    assert incomplete == []
    registered = {
        w for (w,) in await rows(container, "SELECT wallet_address FROM users")
    }
    consumed = {
        w
        for (w,) in await rows(
            container,
            "SELECT wallet_address FROM auth_nonces WHERE consumed_at IS NOT NULL",
        )
    }
    for outcome in traffic.outcomes:
        if outcome.kind != "register":
            continue
        if outcome.status == 201:
            assert outcome.wallet in registered
        assert (outcome.wallet in registered) == (outcome.wallet in consumed)


# --- worker processes killed ---------------------------------------------------------

USDC = 1_000_000
SOL = 1_000_000_000
BASIC = 29_990_000


class GatedRpcServer(RpcTestServer):
    """The shared test node, able to hold chosen methods' answers back.

    A held request has reached the node: the worker that sent it is waiting
    for the answer, inside its unit of work, with its rows locked.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gated: frozenset[str] = frozenset()
        self.held = 0

    def _is_gated(self, body: bytes) -> bool:
        return any(f'"{method}"'.encode() in body for method in self.gated)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        if self._is_gated(body):
            self.held += 1
            try:
                for _ in range(6000):  # a minute at most
                    if not self._is_gated(body):
                        break
                    await asyncio.sleep(0.01)
            finally:
                self.held -= 1
        return await super().endpoint(request)


@pytest.fixture
def rpc_server() -> Iterator[GatedRpcServer]:
    server = GatedRpcServer()
    server.start()
    try:
        yield server
    finally:
        server.gated = frozenset()
        server.stop()


@pytest.fixture
async def rpc_container(
    container: Container,
    database_url: str,
    tmp_path: Path,
    rpc_server: GatedRpcServer,
) -> AsyncIterator[Container]:
    built = node_container(database_url, tmp_path / "api", rpc_server)
    yield built
    await built.stop()


async def until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@dataclass
class Processes:
    """The `pourtier` processes a test starts; none outlives the test."""

    log: Path
    started: list[Process] = field(default_factory=list)

    async def start(self, env: dict[str, str], *args: str) -> Process:
        with self.log.open("ab") as output:
            process = await asyncio.create_subprocess_exec(
                *COMMAND, *args, env=env, stdout=output, stderr=output
            )
        self.started.append(process)
        return process

    async def worker_once(self, env: dict[str, str]) -> None:
        process = await self.start(env, "worker", "--once")
        code = await asyncio.wait_for(process.wait(), 60)
        assert code == 0, self.log.read_bytes().decode(errors="replace")

    async def stop_all(self) -> None:
        for process in self.started:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    started = Processes(tmp_path / "processes.log")
    try:
        yield started
    finally:
        await started.stop_all()


async def sigkill(process: Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(process.wait(), 10) == -signal.SIGKILL


async def transaction_status(container: Container, transaction_id: str) -> str:
    (status,) = (
        await rows(
            container,
            "SELECT status FROM escrow_transactions WHERE id = :id",
            id=transaction_id,
        )
    )[0]
    return str(status)


async def escrow_on_chain(container: Container, wallet: Wallet) -> int:
    return (await container.chain.escrow_state(wallet.address)).balance


async def treasury(server: RpcTestServer) -> int:
    with server.lock:
        account = server.node.svm.get_account(server.chain.treasury)
    assert account is not None
    return decode_token_account(bytes(account.data)).amount


async def test_killed_workers_leave_the_ledger_equal_to_the_chain(
    container: Container,
    rpc_container: Container,
    rpc_server: GatedRpcServer,
    database_url: str,
    tmp_path: Path,
    processes: Processes,
) -> None:
    env = node_env(database_url, tmp_path / "worker", rpc_server)
    async with api_client(rpc_container) as client:
        users: list[tuple[Wallet, dict[str, Any]]] = []
        for _ in range(3):
            wallet = Wallet()
            users.append((wallet, await create_user(client, wallet)))
            rpc_server.faucet(wallet.keypair.pubkey(), 1000 * USDC, SOL)
            await prepare_and_submit(
                client, users[-1][1], wallet, "/api/escrow/initialize", {}
            )
        rpc_server.finalize_all()
        assert await rpc_container.escrow.follower.run_once() == 3
        subscriber_wallet, subscriber = users[0]
        await prepare_and_submit(
            client,
            subscriber,
            subscriber_wallet,
            "/api/escrow/deposit",
            {"amount": "60"},
        )
        rpc_server.finalize_all()
        assert await rpc_container.escrow.follower.run_once() == 1
        subscribed = await subscribe(client, subscriber, "basic")
        assert subscribed.status_code == 202, subscribed.text  # not final yet
        rpc_server.finalize_all()
        assert await rpc_container.escrow.follower.run_once() == 1
        subscription_id = subscribed.json()["id"]

        # 1. Killed between the chain taking deposits and the ledger recording
        # them: the worker is waiting for the node's answer, rows locked.
        deposits = [
            await prepare_and_submit(
                client, tokens, wallet, "/api/escrow/deposit", {"amount": "100"}
            )
            for wallet, tokens in users
        ]
        rpc_server.gated = frozenset({"getSignatureStatuses"})
        first = await processes.start(env, "worker")
        await until(lambda: rpc_server.held > 0, "the worker to ask the node")
        rpc_server.finalize_all()
        await sigkill(first)
        rpc_server.gated = frozenset()

    for deposit in deposits:
        assert await transaction_status(container, deposit) == "pending"
    for wallet, _ in users:
        gap = await escrow_on_chain(rpc_container, wallet) - await ledger_balance(
            container, wallet.address
        )
        assert gap == 100 * USDC, "the deposit should be on chain, not in the books"

    await processes.worker_once(env)
    for deposit in deposits:
        assert await transaction_status(container, deposit) == "confirmed"
        entries = await rows(
            container,
            "SELECT count(*) FROM ledger_entries WHERE escrow_transaction_id = :id",
            id=deposit,
        )
        assert entries[0][0] == 1
    for wallet, _ in users:
        await assert_books(container, rpc_container, wallet)

    # 2. Killed between charging a renewal on chain and recording it.
    (period_end,) = (
        await rows(
            container,
            commit=True,
            sql="UPDATE subscriptions SET "
            "current_period_start = now() - interval '30 days 1 second', "
            "current_period_end = now() - interval '1 second' "
            "WHERE id = :id RETURNING current_period_end",
            id=subscription_id,
        )
    )[0]
    treasury_before = await treasury(rpc_server)
    sends_before = rpc_server.calls.count("sendTransaction")
    rpc_server.gated = frozenset({"getSignatureStatuses"})
    second = await processes.start(env, "worker")
    await until(
        lambda: (
            rpc_server.held > 0
            and rpc_server.calls.count("sendTransaction") > sends_before
        ),
        "the worker to send the renewal and ask for its outcome",
    )
    rpc_server.finalize_all()
    await sigkill(second)
    rpc_server.gated = frozenset()

    assert await treasury(rpc_server) - treasury_before == BASIC
    renewal = await rows(
        container,
        "SELECT c.status, t.status FROM subscription_charges c "
        "JOIN escrow_transactions t ON t.id = c.escrow_transaction_id "
        "WHERE c.subscription_id = :id AND c.kind = 'renewal'",
        id=subscription_id,
    )
    assert [tuple(r) for r in renewal] == [("pending", "pending")]
    gap = await ledger_balance(
        container, subscriber_wallet.address
    ) - await escrow_on_chain(rpc_container, subscriber_wallet)
    assert gap == BASIC, "the charge should be on chain, not in the books"

    # A fresh worker, twice: the charge is recorded once and never sent again.
    await processes.worker_once(env)
    await processes.worker_once(env)
    assert await treasury(rpc_server) - treasury_before == BASIC
    renewal = await rows(
        container,
        "SELECT c.status, c.amount FROM subscription_charges c "
        "WHERE c.subscription_id = :id AND c.kind = 'renewal'",
        id=subscription_id,
    )
    assert [tuple(r) for r in renewal] == [("confirmed", BASIC)]
    (subscription,) = await rows(
        container,
        "SELECT status, current_period_start, current_period_end "
        "FROM subscriptions WHERE id = :id",
        id=subscription_id,
    )
    assert subscription[0] == "active"
    assert subscription[1] == period_end
    assert subscription[2] - subscription[1] == timedelta(days=30)
    for wallet, _ in users:
        await assert_books(container, rpc_container, wallet)
    (charged,) = await rows(
        container,
        "SELECT coalesce(-sum(l.delta), 0) FROM ledger_entries l "
        "JOIN escrow_transactions t ON t.id = l.escrow_transaction_id "
        "WHERE t.type = 'subscription_charge'",
    )
    assert int(charged[0]) == 2 * BASIC  # the first period and the renewal


async def assert_books(container: Container, chain: Container, wallet: Wallet) -> None:
    on_chain = await escrow_on_chain(chain, wallet)
    assert await ledger_balance(container, wallet.address) == on_chain
    assert on_chain >= 0


# --- graceful shutdown ----------------------------------------------------------------


async def refused(url: str) -> bool:
    """Whether a new connection to the server is refused."""
    try:
        async with httpx.AsyncClient(timeout=2) as fresh:
            await fresh.get(url)
    except httpx.ConnectError:
        return True
    return False


async def test_sigterm_finishes_requests_in_flight_and_refuses_new_ones(
    container: Container,
    rpc_server: GatedRpcServer,
    database_url: str,
    tmp_path: Path,
    processes: Processes,
) -> None:
    port = free_port()
    env = node_env(
        database_url,
        tmp_path / "serve",
        rpc_server,
        RUN_WORKERS="false",
        AUTH_DOMAIN=AUTH_DOMAIN,
        AUTH_URI=AUTH_URI,
        RATE_LIMIT_AUTH=TEST_RATE_LIMIT,
        RATE_LIMIT_READ=TEST_RATE_LIMIT,
        RATE_LIMIT_WRITE=TEST_RATE_LIMIT,
    )
    server = await processes.start(env, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        for _ in range(300):
            if server.returncode is not None or not await refused(f"{base}/health"):
                break
            await asyncio.sleep(0.05)
        assert server.returncode is None, processes.log.read_bytes().decode()
        tokens = await create_user(client)

        # Requests the server is in the middle of: each waits on the chain.
        rpc_server.gated = frozenset({"getAccountInfo"})
        count = 24
        in_flight = [
            asyncio.create_task(
                client.get("/api/escrow/balance", headers=bearer(tokens))
            )
            for _ in range(count)
        ]
        await until(lambda: rpc_server.held == count, "every request to be served")

        server.send_signal(signal.SIGTERM)
        for _ in range(100):
            if await refused(f"{base}/health"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("a new connection was still accepted after SIGTERM")
        assert rpc_server.held == count
        assert not any(task.done() for task in in_flight)
        assert server.returncode is None, "the server quit with requests in flight"

        rpc_server.gated = frozenset()
        answers = await asyncio.gather(*in_flight)
    assert [a.status_code for a in answers] == [200] * count, [
        a.text for a in answers if a.status_code != 200
    ]
    assert {a.json()["is_initialized"] for a in answers} == {False}
    # Uvicorn re-raises the signal once it has shut down cleanly.
    assert await asyncio.wait_for(server.wait(), 30) in (0, -signal.SIGTERM)
    assert await refused(f"{base}/health")
