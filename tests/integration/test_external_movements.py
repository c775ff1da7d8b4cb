"""Money moved without the service: a stranger's transfer into an escrow, the
owner's own transfer out. The follower finds both on chain and books each once.

Real local chain, real keypairs and signatures, real PostgreSQL. Each escrow's
history is read at most once per watch interval, so a test lets that much
time pass (on the shared clock) before the pass that must see a movement.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import get_associated_token_address, transfer_checked
from spl.token.models import TransferCheckedParams
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.escrow import Commitment, SignatureState
from pourtier.domain.money import USDC_DECIMALS
from pourtier.infrastructure.solana.escrow_chain import (
    SolanaEscrowChain,
    escrow_address,
)
from tests.helpers import TestClock, bearer, login
from tests.subscription_helpers import (
    BASIC,
    chain_copy,
    fresh_workers,
    get_subscription,
    local,
    rows,
    subscribe,
)
from tests.support.escrow import (
    assert_ledger_matches_chain,
    create_funded_escrow,
    prepare_signed,
    submit_signed,
)

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

USDC = 1_000_000
SOL = 1_000_000_000
WATCH_WAIT = timedelta(minutes=1)  # longer than the follower's watch interval


async def send_transfer(
    container: Container,
    signer: Keypair,
    source: Pubkey,
    dest: Pubkey,
    amount: int,
) -> str:
    """A plain SPL transfer_checked, signed and paid by `signer` alone."""
    instruction = transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=local(container).mint,
            dest=dest,
            owner=signer.pubkey(),
            amount=amount,
            decimals=USDC_DECIMALS,
        )
    )
    blockhash, _ = local(container).node.current_blockhash()
    message = Message.new_with_blockhash([instruction], signer.pubkey(), blockhash)
    transaction = Transaction([signer], message, blockhash)
    await container.chain.send(bytes(transaction))
    signature = str(transaction.signatures[0])
    state = await container.chain.signature_state(signature)
    assert state == SignatureState(Commitment.FINALIZED), state
    return signature


async def stranger_sends(container: Container, wallet: Wallet, amount: int) -> str:
    """Another wallet, funded by the faucet, pays into this user's escrow."""
    stranger = Keypair()
    local(container).faucet(stranger.pubkey(), amount, SOL)
    source = get_associated_token_address(stranger.pubkey(), local(container).mint)
    return await send_transfer(
        container, stranger, source, escrow_address(wallet.keypair.pubkey()), amount
    )


async def owner_takes_out(container: Container, wallet: Wallet, amount: int) -> str:
    """The owner moves funds from the escrow to their own token account."""
    owner = wallet.keypair
    dest = get_associated_token_address(owner.pubkey(), local(container).mint)
    return await send_transfer(
        container, owner, escrow_address(owner.pubkey()), dest, amount
    )


async def follow(container: Container, clock: TestClock) -> int:
    clock.offset += WATCH_WAIT
    return await container.escrow.follower.run_once()


async def history(
    client: httpx.AsyncClient, tokens: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get("/api/escrow/transactions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def external(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (e["type"], e["amount"], e["status"], e["signature"])
        for e in entries
        if e["type"].startswith("external_")
    )


async def test_a_strangers_deposit_and_the_owners_withdrawal_are_booked_once(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="10")
    received = await stranger_sends(container, wallet, 7 * USDC)
    taken = await owner_takes_out(container, wallet, 4 * USDC)
    assert (await container.chain.escrow_state(wallet.address)).balance == 13 * USDC

    assert await follow(container, clock) == 2
    assert await assert_ledger_matches_chain(container, wallet) == 13 * USDC
    tokens = await login(client, wallet)
    entries = await history(client, tokens)
    assert external(entries) == sorted(
        [
            ("external_deposit", "7.000000", "confirmed", received),
            ("external_withdrawal", "4.000000", "confirmed", taken),
        ]
    )
    assert sorted(e["type"] for e in entries) == [
        "deposit",
        "external_deposit",
        "external_withdrawal",
        "initialize",
    ]
    only = await client.get(
        "/api/escrow/transactions",
        params={"type": "external_deposit"},
        headers=bearer(tokens),
    )
    assert [e["signature"] for e in only.json()] == [received]

    # A second pass, and a later one, find nothing new.
    assert await container.escrow.follower.run_once() == 0
    assert await follow(container, clock) == 0
    assert external(await history(client, tokens)) == external(entries)
    assert await assert_ledger_matches_chain(container, wallet) == 13 * USDC

    # Nothing to sign: submitting one is a conflict, not a 500.
    tokens = await login(client, wallet)
    deposit_id = next(e["id"] for e in entries if e["type"] == "external_deposit")
    refused = await client.post(
        "/api/escrow/submit",
        json={
            "transaction_id": deposit_id,
            "signed_transaction": base64.b64encode(bytes(300)).decode(),
        },
        headers=bearer(tokens),
    )
    assert refused.status_code == 409, refused.text
    assert "outside the service" in refused.json()["detail"]


async def test_two_followers_at_once_book_each_movement_once(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    users = [await create_funded_escrow(client, container, deposit="5") for _ in (1, 2)]
    moved = []
    for wallet, _ in users:
        moved.append(await stranger_sends(container, wallet, 3 * USDC))
        moved.append(await owner_takes_out(container, wallet, 2 * USDC))
    clock.offset += WATCH_WAIT

    workers = [fresh_workers(container, clock)[0] for _ in range(4)]
    found = await asyncio.gather(*(worker.run_once() for worker in workers))
    assert sum(found) == len(moved)
    assert sum(await asyncio.gather(*(w.run_once() for w in workers))) == 0
    recorded = await rows(
        container,
        "SELECT signature, count(*) FROM escrow_transactions "
        "WHERE type LIKE 'external%' GROUP BY signature",
    )
    assert sorted(signature for signature, _ in recorded) == sorted(moved)
    assert {count for _, count in recorded} == {1}
    for wallet, _ in users:
        assert await assert_ledger_matches_chain(container, wallet) == 6 * USDC


class SlowToFinalize(SolanaEscrowChain):
    """A node that reports every signature as only processed: nothing settles."""

    async def signature_state(self, signature: str) -> SignatureState:
        return SignatureState(Commitment.PROCESSED)


async def test_the_services_own_transaction_seen_before_it_settles_is_not_external(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="5")
    signed = await prepare_signed(
        client, tokens, wallet, "/api/escrow/withdraw", {"amount": "2"}
    )
    submitted = await submit_signed(client, tokens, signed)
    assert submitted.status_code == 202, submitted.text
    lagging, _ = fresh_workers(container, clock, chain_copy(container, SlowToFinalize))
    clock.offset += WATCH_WAIT
    assert await lagging.run_once() == 0  # on chain already, still pending here
    (status,) = await rows(
        container,
        "SELECT status FROM escrow_transactions WHERE id = :id",
        id=uuid.UUID(signed["transaction_id"]),
    )
    assert status == ("pending",)

    assert await container.escrow.follower.run_once() == 1  # settles it
    assert await follow(container, clock) == 0
    tokens = await login(client, wallet)
    assert external(await history(client, tokens)) == []
    assert await assert_ledger_matches_chain(container, wallet) == 3 * USDC


async def test_a_prepared_deposit_the_wallet_sent_itself_stays_the_services(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    """Wallets that sign and send: the follower may see the deposit on chain
    before the app submits it; it is adopted, and the submit still succeeds."""
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    prepared = await client.post(
        "/api/escrow/deposit", json={"amount": "6"}, headers=bearer(tokens)
    )
    signed = wallet.sign_transaction(prepared.json()["transaction"])
    await container.chain.send(base64.b64decode(signed))  # by the wallet

    assert await follow(container, clock) == 1
    tokens = await login(client, wallet)
    found = await client.get(
        f"/api/escrow/transactions/{prepared.json()['transaction_id']}",
        headers=bearer(tokens),
    )
    assert (found.json()["type"], found.json()["status"]) == ("deposit", "confirmed")
    late = await client.post(
        "/api/escrow/submit",
        json={
            "transaction_id": prepared.json()["transaction_id"],
            "signed_transaction": signed,
        },
        headers=bearer(tokens),
    )
    assert late.status_code == 202, late.text
    assert late.json()["status"] == "confirmed"
    assert external(await history(client, tokens)) == []
    assert await assert_ledger_matches_chain(container, wallet) == 6 * USDC


async def test_an_external_deposit_makes_a_past_due_renewal_retry(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="30")
    created = await subscribe(client, tokens, "basic")
    assert created.status_code == 201, created.text
    sub = created.json()
    clock.offset += timedelta(days=30, minutes=1)
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    assert (await get_subscription(client, tokens, sub["id"]))["status"] == "past_due"
    assert await container.renewals.run_once() == 0  # the next try is hours away

    await stranger_sends(container, wallet, 30 * USDC)
    assert await follow(container, clock) == 1
    assert await container.renewals.run_once() == 1

    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert renewed["status"] == "active"
    assert renewed["current_period_start"] == sub["current_period_end"]
    assert await assert_ledger_matches_chain(container, wallet) == (
        60 * USDC - 2 * BASIC
    )


async def test_only_external_movements_may_lack_a_prepared_transaction(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit=None)
    with pytest.raises(IntegrityError, match="prepared_unless_external"):
        async with container.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO escrow_transactions (id, user_id, wallet_address, "
                    "type, amount, status, last_valid_block_height, created_at, "
                    "expires_at) VALUES (gen_random_uuid(), :user, 'w', 'deposit', "
                    "1, 'confirmed', 0, now(), now())"
                ),
                {"user": uuid.UUID(tokens["user"]["id"])},
            )
