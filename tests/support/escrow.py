"""Escrow set-ups for tests: a wallet signs what the service prepared, the
follower settles it, and the ledger is checked against the chain."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.solana.node import Node
from tests.helpers import bearer, create_user
from tests.support.db import fetch_value

FOLLOW_TIMEOUT_SECONDS = 10.0


async def send_lamports(node: Node, sender: Keypair, to: str, lamports: int) -> str:
    """A plain System transfer any key can make, e.g. a stranger to an escrow
    address; returns its signature."""
    blockhash, _ = await node.latest_blockhash()
    instruction = transfer(
        TransferParams(
            from_pubkey=sender.pubkey(),
            to_pubkey=Pubkey.from_string(to),
            lamports=lamports,
        )
    )
    message = Message.new_with_blockhash([instruction], sender.pubkey(), blockhash)
    signed = Transaction([sender], message, blockhash)
    await node.send_raw(bytes(signed))
    return str(signed.signatures[0])


async def fund_wallet(client: httpx.AsyncClient, wallet: Wallet, usdc: str) -> None:
    """SOL for fees and `usdc` test USDC, from the development faucet."""
    response = await client.post(
        "/api/dev/faucet", json={"wallet_address": wallet.address, "amount": usdc}
    )
    assert response.status_code == 200, response.text


async def prepare_signed(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    wallet: Wallet,
    path: str,
    body: dict[str, Any],
) -> dict[str, str]:
    """Prepare one escrow transaction and sign it as the wallet: a submit body."""
    prepared = await client.post(path, json=body, headers=bearer(tokens))
    assert prepared.status_code == 200, prepared.text
    return {
        "transaction_id": prepared.json()["transaction_id"],
        "signed_transaction": wallet.sign_transaction(prepared.json()["transaction"]),
    }


async def submit_signed(
    client: httpx.AsyncClient, tokens: dict[str, Any], signed: dict[str, str]
) -> httpx.Response:
    return await client.post("/api/escrow/submit", json=signed, headers=bearer(tokens))


async def prepare_and_submit(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    wallet: Wallet,
    path: str,
    body: dict[str, Any],
) -> str:
    """Prepare one escrow transaction, sign it as the wallet, submit it;
    returns its id."""
    signed = await prepare_signed(client, tokens, wallet, path, body)
    submitted = await submit_signed(client, tokens, signed)
    assert submitted.status_code == 202, submitted.text
    return signed["transaction_id"]


async def escrow_round_trip(
    client: httpx.AsyncClient,
    container: Container | None,
    tokens: dict[str, Any],
    wallet: Wallet,
    path: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Prepare, sign, submit and follow one escrow transaction; returns it.

    With a container its follower runs once, here; without one (a server
    process with its own workers) the transaction is awaited until final.
    """
    transaction_id = await prepare_and_submit(client, tokens, wallet, path, body)
    if container is not None:
        await container.escrow.follower.run_once()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_TIMEOUT_SECONDS
    while True:
        found = await client.get(
            f"/api/escrow/transactions/{transaction_id}", headers=bearer(tokens)
        )
        assert found.status_code == 200, found.text
        result: dict[str, Any] = found.json()
        if container is not None or result["status"] != "pending":
            return result
        assert loop.time() < deadline, f"{path} was not final in time: {result}"
        await asyncio.sleep(0.05)


async def funded_user(
    client: httpx.AsyncClient, usdc: str = "1000", wallet: Wallet | None = None
) -> tuple[Wallet, dict[str, Any]]:
    """A registered user whose wallet holds SOL and `usdc` test USDC; no escrow."""
    wallet = wallet or Wallet()
    tokens = await create_user(client, wallet)
    await fund_wallet(client, wallet, usdc)
    return wallet, tokens


async def initialize_escrow(
    client: httpx.AsyncClient,
    container: Container | None,
    tokens: dict[str, Any],
    wallet: Wallet,
    allowance: str | None = None,
) -> dict[str, Any]:
    """Initialize a funded wallet's escrow (the default allowance unless
    given); returns the confirmed transaction."""
    body = {} if allowance is None else {"allowance": allowance}
    initialized = await escrow_round_trip(
        client, container, tokens, wallet, "/api/escrow/initialize", body
    )
    assert initialized["status"] == "confirmed", initialized
    return initialized


async def create_funded_escrow(
    client: httpx.AsyncClient,
    container: Container | None,
    deposit: str | None = "100",
    wallet: Wallet | None = None,
    faucet: str = "1000",
    allowance: str | None = None,
) -> tuple[Wallet, dict[str, Any]]:
    """A registered user whose escrow is initialized and holds `deposit` USDC."""
    wallet, tokens = await funded_user(client, faucet, wallet)
    await initialize_escrow(client, container, tokens, wallet, allowance)
    if deposit is not None:
        deposited = await escrow_round_trip(
            client,
            container,
            tokens,
            wallet,
            "/api/escrow/deposit",
            {"amount": deposit},
        )
        assert deposited["status"] == "confirmed", deposited
    return wallet, tokens


async def ledger_balance(container: Container, wallet_address: str) -> int:
    total = await fetch_value(
        container,
        "SELECT coalesce(sum(l.delta), 0) FROM ledger_entries l "
        "JOIN users u ON u.id = l.user_id WHERE u.wallet_address = :w",
        w=wallet_address,
    )
    return int(total or 0)


async def assert_ledger_matches_chain(
    container: Container, wallet: Wallet | str
) -> int:
    """The ledger's sum for the wallet equals its escrow on chain; returns it."""
    address = wallet.address if isinstance(wallet, Wallet) else wallet
    on_chain = (await container.chain.escrow_state(address)).balance
    in_ledger = await ledger_balance(container, address)
    assert in_ledger == on_chain, f"ledger {in_ledger} != chain {on_chain}"
    return on_chain
