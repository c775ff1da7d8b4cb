"""The follower: pending transactions to final states, once, whatever happens.

Real local chain, real signatures, real PostgreSQL; "crashes" are simulated by
building a second container (a new process) on the same database and data
directory.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from pourtier.application.escrow_follower import EscrowFollower
from pourtier.di.container import Container
from pourtier.domain.escrow import EscrowTransaction, TransactionStatus
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.infrastructure.persistence.unit_of_work import SqlUnitOfWork
from pourtier.infrastructure.solana.local import BLOCKHASH_VALIDITY
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import TestClock, bearer, create_user
from tests.support.escrow import (
    assert_ledger_matches_chain,
    create_funded_escrow,
    prepare_signed,
)
from tests.support.processes import free_port, process_env, run_cli


async def accept_unsent(
    container: Container, tokens: dict[str, Any], body: dict[str, str]
) -> None:
    """The API process records the submission, then dies before sending it."""
    _, fresh = await container.escrow.accept_signed(
        uuid.UUID(tokens["user"]["id"]),
        uuid.UUID(body["transaction_id"]),
        base64.b64decode(body["signed_transaction"]),
    )
    assert fresh


async def status_of(container: Container, transaction_id: str) -> str:
    async with container.engine.connect() as connection:
        return str(
            await connection.scalar(
                text("SELECT status FROM escrow_transactions WHERE id = :id"),
                {"id": uuid.UUID(transaction_id)},
            )
        )


async def ledger_entries(container: Container, transaction_id: str) -> int:
    async with container.engine.connect() as connection:
        return int(
            await connection.scalar(
                text(
                    "SELECT count(*) FROM ledger_entries "
                    "WHERE escrow_transaction_id = :id"
                ),
                {"id": uuid.UUID(transaction_id)},
            )
            or 0
        )


async def test_twenty_concurrent_submits_of_one_deposit_credit_it_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "25"}
    )
    responses = await asyncio.gather(
        *(
            client.post("/api/escrow/submit", json=body, headers=bearer(tokens))
            for _ in range(20)
        )
    )
    assert [r.status_code for r in responses] == [202] * 20
    assert len({r.json()["signature"] for r in responses}) == 1
    await container.escrow.follower.run_once()
    await container.escrow.follower.run_once()
    assert await status_of(container, body["transaction_id"]) == "confirmed"
    assert await ledger_entries(container, body["transaction_id"]) == 1
    assert await assert_ledger_matches_chain(container, wallet) == 25_000_000


async def test_two_followers_at_once_settle_each_transaction_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    pending: list[str] = []
    users = [
        await create_funded_escrow(client, container, deposit=None) for _ in range(3)
    ]
    wallets = [wallet for wallet, _ in users]
    for wallet, tokens in users:
        for amount in ("1", "2"):
            body = await prepare_signed(
                client, tokens, wallet, "/api/escrow/deposit", {"amount": amount}
            )
            await accept_unsent(container, tokens, body)
            pending.append(body["transaction_id"])

    def follower() -> EscrowFollower:
        return EscrowFollower(
            uow=lambda: SqlUnitOfWork(container.session_factory),
            chain=container.chain,
            clock=container.escrow.clock,
        )

    settled = await asyncio.gather(follower().run_once(), follower().run_once())
    assert sum(settled) == len(pending)
    for transaction_id in pending:
        assert await status_of(container, transaction_id) == "confirmed"
        assert await ledger_entries(container, transaction_id) == 1
    for wallet in wallets:
        assert await assert_ledger_matches_chain(container, wallet) == 3_000_000
    assert await follower().run_once() == 0


async def test_a_new_process_finishes_a_submission_whose_sender_crashed(
    client: httpx.AsyncClient,
    container: Container,
    database_url: str,
    data_dir: Path,
    clock: TestClock,
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="10")
    unsent = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "4"}
    )
    await accept_unsent(container, tokens, unsent)  # crash before sending
    sent = await prepare_signed(
        client, tokens, wallet, "/api/escrow/withdraw", {"amount": "3"}
    )
    response = await client.post(
        "/api/escrow/submit", json=sent, headers=bearer(tokens)
    )
    assert response.status_code == 202  # sent; crash before the follower ran

    restarted = build_test_container(make_settings(database_url, data_dir), clock=clock)
    try:
        assert await restarted.escrow.follower.run_once() == 2
        assert await restarted.escrow.follower.run_once() == 0
        for body in (unsent, sent):
            assert await status_of(restarted, body["transaction_id"]) == "confirmed"
            assert await ledger_entries(restarted, body["transaction_id"]) == 1
        assert await assert_ledger_matches_chain(restarted, wallet) == 11_000_000
    finally:
        await restarted.stop()


async def test_a_transaction_that_fails_on_chain_is_failed_and_moves_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(
        client, container, deposit=None, faucet="10"
    )
    first = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "10"}
    )
    second = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "9.5"}
    )
    for body in (first, second):
        response = await client.post(
            "/api/escrow/submit", json=body, headers=bearer(tokens)
        )
        assert response.status_code == 202
    await container.escrow.follower.run_once()
    assert await status_of(container, first["transaction_id"]) == "confirmed"
    failed = await client.get(
        f"/api/escrow/transactions/{second['transaction_id']}", headers=bearer(tokens)
    )
    assert failed.json()["status"] == "failed"
    assert failed.json()["error"]
    assert await ledger_entries(container, second["transaction_id"]) == 0
    assert await assert_ledger_matches_chain(container, wallet) == 10_000_000


async def test_a_transaction_that_never_lands_expires_by_block_height(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="5")
    unsent = await prepare_signed(
        client, tokens, wallet, "/api/escrow/withdraw", {"amount": "2"}
    )
    await accept_unsent(container, tokens, unsent)
    late = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "1"}
    )
    assert container.local_chain is not None
    container.local_chain.node.advance_blocks(BLOCKHASH_VALIDITY + 1)

    refused = await client.post("/api/escrow/submit", json=late, headers=bearer(tokens))
    assert refused.status_code == 502
    assert "refused" in refused.json()["detail"]
    assert await status_of(container, late["transaction_id"]) == "pending"

    assert await container.escrow.follower.run_once() == 2
    for body in (unsent, late):
        assert await status_of(container, body["transaction_id"]) == "expired"
        assert await ledger_entries(container, body["transaction_id"]) == 0
    assert await assert_ledger_matches_chain(container, wallet) == 5_000_000
    withdraw = await client.post(
        "/api/escrow/withdraw", json={"amount": "5"}, headers=bearer(tokens)
    )
    assert withdraw.status_code == 200  # the expired debit is spendable again


async def test_settlement_hooks_run_once_in_the_settling_unit_of_work(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    seen: list[tuple[str, TransactionStatus, int]] = []

    async def hook(uow: UnitOfWork, transaction: EscrowTransaction) -> None:
        # The ledger entry is already visible in the same unit of work.
        balance = await uow.escrow.ledger_balance(transaction.user_id)
        seen.append((transaction.type.value, transaction.status, balance))

    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "8"}
    )
    await client.post("/api/escrow/submit", json=body, headers=bearer(tokens))
    container.escrow.settlement_hooks.append(hook)
    try:
        await container.escrow.follower.run_once()
        await container.escrow.follower.run_once()
    finally:
        container.escrow.settlement_hooks.remove(hook)
    assert seen == [("deposit", TransactionStatus.CONFIRMED, 8_000_000)]


async def test_a_failing_hook_rolls_its_settlement_back_and_spares_the_rest(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    bad = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "3"}
    )
    good = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "4"}
    )
    for body in (bad, good):
        await client.post("/api/escrow/submit", json=body, headers=bearer(tokens))

    async def hook(uow: UnitOfWork, transaction: EscrowTransaction) -> None:
        if str(transaction.id) == bad["transaction_id"]:
            raise RuntimeError("subscriber bug")

    container.escrow.settlement_hooks.append(hook)
    try:
        assert await container.escrow.follower.run_once() == 1
    finally:
        container.escrow.settlement_hooks.remove(hook)
    assert await status_of(container, bad["transaction_id"]) == "pending"
    assert await ledger_entries(container, bad["transaction_id"]) == 0
    assert await status_of(container, good["transaction_id"]) == "confirmed"
    assert await container.escrow.follower.run_once() == 1
    assert await status_of(container, bad["transaction_id"]) == "confirmed"
    assert await assert_ledger_matches_chain(container, wallet) == 7_000_000


async def test_the_api_runs_the_follower_in_the_background(
    client: httpx.AsyncClient,
    container: Container,
    database_url: str,
    data_dir: Path,
    clock: TestClock,
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "6"}
    )
    await accept_unsent(container, tokens, body)
    serving = build_test_container(make_settings(database_url, data_dir), clock=clock)
    quiet = build_test_container(
        make_settings(database_url, data_dir, RUN_WORKERS=False), clock=clock
    )
    try:
        await quiet.start()
        await asyncio.sleep(1.5)
        assert await status_of(container, body["transaction_id"]) == "pending"
        await serving.start()
        for _ in range(100):  # the loop passes about once a second
            if await status_of(container, body["transaction_id"]) != "pending":
                break
            await asyncio.sleep(0.1)
        assert await status_of(container, body["transaction_id"]) == "confirmed"
        assert await assert_ledger_matches_chain(serving, wallet) == 6_000_000
    finally:
        await serving.stop()
        await quiet.stop()


async def test_a_chain_outage_fails_only_escrow_and_loses_nothing(
    client: httpx.AsyncClient,
    container: Container,
    database_url: str,
    tmp_path: Path,
    clock: TestClock,
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "9"}
    )
    local = container.local_chain
    assert local is not None
    settings = make_settings(
        database_url,
        tmp_path,
        SOLANA_RPC_URL=f"http://127.0.0.1:{free_port()}",
        USDC_MINT=str(local.mint),
        TREASURY_TOKEN_ACCOUNT=str(local.treasury),
        FEE_AUTHORITY_KEYPAIR=str(local.keys["fee_authority"]),
    )
    down = build_test_container(settings, clock=clock)
    app = create_app(down, manage_lifespan=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=AUTH_URI
        ) as outage:
            newcomer = await create_user(outage)  # sign-in works
            me = await outage.get("/api/users/me", headers=bearer(newcomer))
            assert me.status_code == 200
            assert (await outage.get("/api/legal/documents")).status_code == 200
            for method, path, payload in (
                ("GET", "/api/escrow/balance", None),
                ("POST", "/api/escrow/initialize", {}),
                ("POST", "/api/escrow/deposit", {"amount": "1"}),
                ("POST", "/api/escrow/withdraw", {"amount": "1"}),
            ):
                response = await outage.request(
                    method, path, json=payload, headers=bearer(tokens)
                )
                assert response.status_code == 503, (path, response.text)
                assert "unreachable" in response.json()["detail"]
            sent = await outage.post(
                "/api/escrow/submit", json=body, headers=bearer(tokens)
            )
            assert sent.status_code == 503
            assert "saved" in sent.json()["detail"]
            history = await outage.get(
                "/api/escrow/transactions", headers=bearer(tokens)
            )
            assert history.status_code == 200  # the database answers alone
        assert await down.escrow.follower.run_once() == 0
        assert await status_of(container, body["transaction_id"]) == "pending"
    finally:
        await down.stop()
    # The chain is back: the saved transaction is sent and credited once.
    assert await container.escrow.follower.run_once() == 1
    assert await status_of(container, body["transaction_id"]) == "confirmed"
    assert await assert_ledger_matches_chain(container, wallet) == 9_000_000


async def test_pourtier_worker_runs_the_follower_as_its_own_process(
    client: httpx.AsyncClient, container: Container, database_url: str, data_dir: Path
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "2.5"}
    )
    await accept_unsent(container, tokens, body)
    env = process_env(database_url, data_dir)
    result = await run_cli(env, "worker", "--once")
    assert result.returncode == 0, result.output
    assert "one pass done" in result.output
    assert await status_of(container, body["transaction_id"]) == "confirmed"
    assert await ledger_entries(container, body["transaction_id"]) == 1
    # The worker's chain is the one saved in the data directory.
    chain = LocalChain.open(data_dir / "chain").escrow_chain()
    assert (await chain.escrow_state(wallet.address)).balance == 2_500_000
