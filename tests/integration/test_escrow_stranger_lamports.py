"""Lamports a stranger sends to an escrow address block nothing.

The address is public (derived from the wallet), so anyone can send SOL to it
before or while its owner initializes. Over HTTP on the local chain, with the
books checked after every test: each escrow equals its ledger, and the
treasury received exactly the confirmed charges.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.signature import Signature

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.escrow import Commitment, SignatureState
from pourtier.infrastructure.solana.escrow_chain import escrow_address
from tests.helpers import bearer
from tests.subscription_helpers import BASIC, local, subscribe
from tests.support.escrow import (
    assert_ledger_matches_chain,
    create_funded_escrow,
    escrow_round_trip,
    funded_user,
    prepare_signed,
    send_lamports,
    submit_signed,
)

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

SOL = 1_000_000_000


async def stranger_funds_escrow_of(container: Container, wallet: Wallet) -> None:
    """Another key sends SOL to the wallet's escrow address: a plain transfer."""
    chain = local(container)
    stranger = Keypair()
    chain.faucet(stranger.pubkey(), 0, 2 * SOL)
    address = str(escrow_address(wallet.keypair.pubkey()))
    signature = await send_lamports(chain.node, stranger, address, SOL // 1000)
    state = await chain.node.signature_state(Signature.from_string(signature))
    assert state == SignatureState(Commitment.FINALIZED)


async def deposit_and_subscribe(
    client: httpx.AsyncClient,
    container: Container,
    tokens: dict[str, Any],
    wallet: Wallet,
) -> None:
    deposited = await escrow_round_trip(
        client, container, tokens, wallet, "/api/escrow/deposit", {"amount": "100"}
    )
    assert deposited["status"] == "confirmed", deposited
    subscribed = await subscribe(client, tokens, "basic")
    assert subscribed.status_code == 201, subscribed.text
    assert await assert_ledger_matches_chain(container, wallet) == 100_000_000 - BASIC


async def test_an_escrow_address_funded_by_a_stranger_first_still_initializes(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    await stranger_funds_escrow_of(container, wallet)  # before they even register
    _, tokens = await create_funded_escrow(
        client, container, deposit=None, wallet=wallet, faucet="500"
    )
    await deposit_and_subscribe(client, container, tokens, wallet)


async def test_lamports_sent_between_prepare_and_submit_do_not_break_initialize(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await funded_user(client, "500")
    signed = await prepare_signed(client, tokens, wallet, "/api/escrow/initialize", {})
    await stranger_funds_escrow_of(container, wallet)

    submitted = await submit_signed(client, tokens, signed)
    assert submitted.status_code == 202, submitted.text
    await container.escrow.follower.run_once()
    balance = await client.get("/api/escrow/balance", headers=bearer(tokens))
    assert balance.json()["is_initialized"] is True
    await deposit_and_subscribe(client, container, tokens, wallet)
