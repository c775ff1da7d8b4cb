"""The local chain is one process (`pourtier localnet`) every other reaches
over Solana JSON-RPC: API workers, `pourtier worker`, stock clients."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import get_associated_token_address

from pourtier.di.container import Container
from pourtier.infrastructure.solana import localnet
from pourtier.infrastructure.solana.local_chain import load_or_create_keys
from pourtier.infrastructure.solana.rpc import RpcNode
from tests.helpers import bearer
from tests.support.escrow import create_funded_escrow
from tests.support.node import node_client
from tests.support.processes import COMMAND, process_env
from tests.support.servers import (
    server_env,
    start_serve,
    stop_server,
    wait_ready,
)

SOL = 1_000_000_000
USDC = 1_000_000
NO_DATABASE = "postgresql://postgres@127.0.0.1:9/unreachable"  # never needed
RENT_FREE = 10_000_000  # a new account must hold its rent: 0.01 SOL does
WEB3JS = Path(__file__).resolve().parents[1] / "support" / "web3js"


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    return tmp_path / "chain"


@pytest.fixture
def running(chain_dir: Path) -> Iterator[localnet.Localnet]:
    started = localnet.ensure(chain_dir, port=0)
    try:
        yield started
    finally:
        started.leave()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`pourtier <args>` to its end, stdout and stderr apart."""
    return subprocess.run(  # noqa: S603 - our own command
        [*COMMAND, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_solana_py_reads_balances_and_sends_a_transaction(
    running: localnet.Localnet, chain_dir: Path
) -> None:
    payer, recipient = Keypair(), Keypair().pubkey()
    async with AsyncClient(running.url, commitment=Confirmed) as client:
        assert (await client.get_version()).value.solana_core
        airdrop = await client.request_airdrop(payer.pubkey(), 2 * SOL)
        await client.confirm_transaction(airdrop.value)
        assert (await client.get_balance(payer.pubkey())).value == 2 * SOL
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        message = Message.new_with_blockhash(
            [
                transfer(
                    TransferParams(
                        from_pubkey=payer.pubkey(),
                        to_pubkey=recipient,
                        lamports=RENT_FREE,
                    )
                )
            ],
            payer.pubkey(),
            blockhash,
        )
        simulated = await client.simulate_transaction(
            VersionedTransaction(message, [payer])  # solana-py's type; legacy bytes
        )
        assert simulated.value.err is None
        sent = await client.send_transaction(VersionedTransaction(message, [payer]))
        await client.confirm_transaction(sent.value)
        assert (await client.get_balance(recipient)).value == RENT_FREE
        # Test USDC, minted by the data directory's faucet, read back as tokens.
        node = RpcNode(running.url)
        keys = load_or_create_keys(chain_dir, None)
        await localnet.LocalnetFaucet(node, keys).fund(payer.pubkey(), 7 * USDC, 0)
        await node.close()
        ata = get_associated_token_address(payer.pubkey(), keys["mint"].pubkey())
        balance = (await client.get_token_account_balance(ata)).value
        assert (balance.amount, balance.decimals, balance.ui_amount_string) == (
            "7000000",
            6,
            "7",
        )


def test_web3js_connection_reads_balances_and_sends_a_transaction(
    running: localnet.Localnet,
) -> None:
    node = node_client(WEB3JS, "@solana/web3.js")
    result = subprocess.run(  # noqa: S603
        [node, "client.mjs", running.url, str(RENT_FREE)],
        cwd=WEB3JS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["funded"] == 2 * SOL
    assert answer["status"] == "finalized"
    assert answer["received"] == RENT_FREE
    assert answer["payer_after"] == 2 * SOL - RENT_FREE - 5000  # one signature's fee


def test_a_second_chain_on_the_same_directory_is_refused(
    running: localnet.Localnet, tmp_path: Path
) -> None:
    second = cli(process_env(NO_DATABASE, tmp_path), "localnet", "--port", "0")
    assert second.returncode == 1
    assert "already serves" in second.stderr
    assert running.url in second.stderr
    joined = localnet.ensure(tmp_path / "chain", port=0)
    assert joined.url == running.url
    assert joined.process is None  # joined, so not ours to stop


def test_a_killed_chain_is_replaced_and_keeps_its_accounts(
    running: localnet.Localnet, chain_dir: Path
) -> None:
    wallet = Keypair().pubkey()
    rpc(running.url, "requestAirdrop", [str(wallet), 3 * SOL])
    assert running.process is not None
    running.process.send_signal(signal.SIGKILL)
    running.process.wait()
    assert (chain_dir / localnet.STATE_FILE).exists()  # stale, left behind
    assert localnet.running_url(chain_dir) is None
    restarted = localnet.ensure(chain_dir, port=0)
    assert restarted.process is not None
    balance = rpc(restarted.url, "getBalance", [str(wallet)])
    assert balance["value"] == 3 * SOL
    restarted.leave()
    assert stops(chain_dir)  # its last user left
    assert restarted.process.wait(timeout=10) == 0


def test_a_chain_started_for_a_process_stops_when_that_process_is_killed(
    tmp_path: Path,
) -> None:
    worker = subprocess.Popen(  # noqa: S603 - our own command
        [*COMMAND, "worker"],
        env=process_env(NO_DATABASE, tmp_path, LOCALNET_PORT="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert started(tmp_path / "chain"), "the worker did not start the chain"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert stops(tmp_path / "chain")
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_chain_started_by_hand_outlives_the_processes_that_join_it(
    tmp_path: Path,
) -> None:
    by_hand = subprocess.Popen(  # noqa: S603 - our own command
        [*COMMAND, "localnet", "--port", "0"],
        env=process_env(NO_DATABASE, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert started(tmp_path / "chain")
        joined = localnet.ensure(tmp_path / "chain", port=0)
        assert joined.process is None
        joined.leave()
        assert not stops(tmp_path / "chain", seconds=2)
        by_hand.send_signal(signal.SIGTERM)
        assert by_hand.wait(timeout=15) == 0
        assert localnet.running_url(tmp_path / "chain") is None
    finally:
        if by_hand.poll() is None:
            by_hand.kill()


def started(chain_dir: Path, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if localnet.running_url(chain_dir) is not None:
            return True
        time.sleep(0.05)
    return False


def stops(chain_dir: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if localnet.running_url(chain_dir) is None:
            return True
        time.sleep(0.05)
    return False


def rpc(url: str, method: str, params: list[Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = httpx.post(url, json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


async def test_two_api_workers_and_a_worker_process_share_one_chain(
    container: Container,  # migrates the test database
    database_url: str,
    tmp_path: Path,
) -> None:
    """The measured flaw: each worker had its own LiteSVM, so the escrow
    existed in one and not the other and balances alternated."""
    env = {
        **server_env(database_url, tmp_path, None),
        "LOCALNET_PORT": "0",
        "RUN_WORKERS": "true",
    }
    server = await start_serve("serve", env, tmp_path, workers=2)
    try:
        await wait_ready(server)
        # A fresh connection per request, so both workers answer.
        limits = httpx.Limits(max_keepalive_connections=0)
        base = str(server.client.base_url)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=20) as c:
            # Prepared through one connection, submitted through another,
            # confirmed by the follower in either worker.
            _, tokens = await create_funded_escrow(c, None, deposit="50", faucet="80")
            balances = [
                (await c.get("/api/escrow/balance", headers=bearer(tokens))).json()
                for _ in range(30)
            ]
        seen = {(b["is_initialized"], b["balance"]) for b in balances}
        assert seen == {(True, "50.000000")}, balances
        worker = cli(env, "worker", "--once")
        assert worker.returncode == 0, worker.stdout + worker.stderr
        assert "joined the local chain" in worker.stdout
        server.process.send_signal(signal.SIGINT)  # Ctrl-C
        await asyncio.wait_for(server.process.wait(), 60)
    finally:
        await stop_server(server)
    assert "started the local chain" in server.log.read_text()
    assert stops(tmp_path / "chain")  # its only user, serve, has gone
