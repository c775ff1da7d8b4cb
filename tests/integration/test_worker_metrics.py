"""`pourtier worker --metrics-port`: a real worker process reports its passes
and its lag (/health, /metrics), as its supervisor and Prometheus read them.

The chain is the shared JSON-RPC test node: a transaction it has processed
stays pending until the test finalizes it, and a webhook receiver that holds
its answers keeps a delivery pending until released.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.delivery_helpers import commit_events, endpoint, new_subject, statuses
from tests.helpers import create_user
from tests.support.escrow import prepare_and_submit
from tests.support.processes import run_cli
from tests.support.receiver import running_receiver
from tests.support.rpc_server import RpcTestServer
from tests.support.servers import (
    Scrape,
    Server,
    start_worker,
    stop_server,
    wait_ready,
)
from tests.support.shared_node import api_client, node_container, node_env

PENDING_AGE = "pourtier_escrow_oldest_pending_age_seconds"
UNDELIVERED_AGE = "pourtier_outbox_oldest_undelivered_age_seconds"
USDC = 1_000_000
SOL = 1_000_000_000


@pytest.fixture
async def worker(
    container: Container,  # migrates and cleans the test database
    database_url: str,
    tmp_path: Path,
    rpc_server: RpcTestServer,
) -> AsyncIterator[Server]:
    env = node_env(database_url, tmp_path / "worker", rpc_server)
    started = await start_worker("worker", env, tmp_path)
    try:
        await wait_ready(started)  # /health is 200 once every worker passed
        yield started
    finally:
        await stop_server(started)


@pytest.fixture
async def api(
    container: Container, database_url: str, tmp_path: Path, rpc_server: RpcTestServer
) -> AsyncIterator[httpx.AsyncClient]:
    built = node_container(database_url, tmp_path / "api", rpc_server)
    try:
        async with api_client(built) as client:
            yield client
    finally:
        await built.stop()


async def scrape(worker: Server) -> Scrape:
    response = await worker.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def gauge_until(
    worker: Server, name: str, wanted: Callable[[float], bool], what: str
) -> float:
    deadline = time.monotonic() + 30
    while True:
        value = (await scrape(worker)).one(name)
        if wanted(value):
            return value
        assert time.monotonic() < deadline, f"{name} never {what}: {value}"
        await asyncio.sleep(0.1)


async def test_health_names_each_worker_and_its_last_pass(worker: Server) -> None:
    first = (await worker.client.get("/health")).json()
    assert first["status"] == "ok", first
    names = set(first["workers"])
    assert "EscrowFollower.run_once" in names
    assert "EventRelay.run_once" in names
    for state in first["workers"].values():
        assert state["last_pass_at"] is not None
        assert state["failed_passes"] == 0
    last = datetime.fromisoformat(first["last_pass_at"])
    assert (datetime.now(UTC) - last).total_seconds() < 30
    assert first["checks"]["database"]["status"] == "ok"
    assert first["oldest_pending_transaction_seconds"] == 0
    assert first["oldest_undelivered_event_seconds"] == 0
    deadline = time.monotonic() + 30  # a pass a second; a loaded machine lags
    while (
        datetime.fromisoformat(
            (await worker.client.get("/health")).json()["last_pass_at"]
        )
        <= last
    ):
        assert time.monotonic() < deadline, "no pass after the first answer"
        await asyncio.sleep(0.1)

    scraped = await scrape(worker)
    assert scraped.one(PENDING_AGE) == 0
    assert scraped.one(UNDELIVERED_AGE) == 0
    passed = scraped.one(
        "pourtier_worker_last_pass_timestamp_seconds",
        worker="EscrowFollower.run_once",
    )
    assert abs(passed - time.time()) < 30
    assert scraped.one("process_cpu_seconds_total") > 0  # its own process

    await stop_server(worker)  # SIGTERM: the workers and the site stop cleanly
    assert worker.process.returncode == 0, worker.log.read_text()


async def test_health_is_degraded_while_the_chain_is(
    worker: Server, rpc_server: RpcTestServer
) -> None:
    rpc_server.unhealthy = True
    try:
        answer = await worker.client.get("/health")
        assert answer.status_code == 503
        assert answer.json()["status"] == "degraded"
        assert "chain" in answer.json()["detail"]
    finally:
        rpc_server.unhealthy = False
    assert (await worker.client.get("/health")).status_code == 200


async def test_a_pending_transaction_shows_its_age_until_it_is_final(
    worker: Server, api: httpx.AsyncClient, rpc_server: RpcTestServer
) -> None:
    wallet = Wallet()
    tokens = await create_user(api, wallet)
    rpc_server.faucet(wallet.keypair.pubkey(), 10 * USDC, SOL)
    await prepare_and_submit(api, tokens, wallet, "/api/escrow/initialize", {})
    # Processed by the node, not finalized: the worker keeps it pending.
    first = await gauge_until(worker, PENDING_AGE, lambda v: v > 0, "rose")
    later = await gauge_until(worker, PENDING_AGE, lambda v: v > first, "grew")
    health = (await worker.client.get("/health")).json()
    assert health["oldest_pending_transaction_seconds"] >= later

    rpc_server.finalize_all()
    await gauge_until(worker, PENDING_AGE, lambda v: v == 0, "went back to 0")


async def test_an_undelivered_event_shows_its_age_until_delivered(
    container: Container, worker: Server
) -> None:
    with running_receiver() as receiver:
        await endpoint(container, receiver.url + "/hook")
        receiver.hold = True  # the relay sends and waits: still pending
        await commit_events(container, new_subject())
        deadline = time.monotonic() + 30
        while receiver.waiting == 0:  # sent by the worker, not yet answered
            assert time.monotonic() < deadline, "the worker sent nothing"
            await asyncio.sleep(0.05)
        first = await gauge_until(worker, UNDELIVERED_AGE, lambda v: v > 0, "rose")
        await gauge_until(worker, UNDELIVERED_AGE, lambda v: v > first, "grew")
        receiver.hold = False
        await gauge_until(worker, UNDELIVERED_AGE, lambda v: v == 0, "went to 0")
    assert await statuses(container) == {"delivered": 1}


async def test_a_busy_metrics_port_stops_the_worker_with_a_clear_error(
    worker: Server, database_url: str, tmp_path: Path, rpc_server: RpcTestServer
) -> None:
    env = node_env(database_url, tmp_path / "second", rpc_server)
    taken = worker.url.rpartition(":")[2]
    result = await run_cli(env, "worker", "--metrics-port", taken)
    assert result.returncode == 1, result.output
    assert f"cannot listen on 127.0.0.1:{taken}" in result.output
