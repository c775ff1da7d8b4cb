"""Plain factory functions for tests: real keys, real signatures, real HTTP."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from sqlalchemy import text

from pourtier.di.container import Container
from pourtier.infrastructure.solana.node import Node


@dataclass
class Wallet:
    keypair: Keypair = field(default_factory=Keypair)

    @property
    def address(self) -> str:
        return str(self.keypair.pubkey())

    def sign(self, message: str) -> str:
        return str(self.keypair.sign_message(message.encode("utf-8")))


@dataclass
class TestClock:
    """Real time plus an offset a test may move, shared with the app."""

    __test__ = False

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def create_nonce(client: httpx.AsyncClient, wallet: Wallet) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/nonce", json={"wallet_address": wallet.address}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_signed_message(
    client: httpx.AsyncClient, wallet: Wallet
) -> dict[str, str]:
    """A fresh nonce's message, signed by the wallet: the body of verify/login."""
    message = (await create_nonce(client, wallet))["message"]
    return {
        "wallet_address": wallet.address,
        "message": message,
        "signature": wallet.sign(message),
    }


async def active_document_ids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/api/legal/documents")
    assert response.status_code == 200, response.text
    return [doc["id"] for doc in response.json()]


async def create_user(
    client: httpx.AsyncClient, wallet: Wallet | None = None
) -> dict[str, Any]:
    """Register a wallet accepting every active document; returns the token body."""
    wallet = wallet or Wallet()
    body = await create_signed_message(client, wallet)
    body["accepted_document_ids"] = await active_document_ids(client)  # type: ignore[assignment]
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# --- escrow ---------------------------------------------------------------------


def sign_transaction(wallet: Wallet, transaction_b64: str) -> str:
    """What a wallet does with a prepared transaction: sign its exact message."""
    unsigned = Transaction.from_bytes(base64.b64decode(transaction_b64))
    message = unsigned.message
    signed = Transaction([wallet.keypair], message, message.recent_blockhash)
    return base64.b64encode(bytes(signed)).decode("ascii")


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


async def prepare_and_submit(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    wallet: Wallet,
    path: str,
    body: dict[str, Any],
) -> str:
    """Prepare one escrow transaction, sign it as the wallet, submit it;
    returns its id."""
    prepared = await client.post(path, json=body, headers=bearer(tokens))
    assert prepared.status_code == 200, prepared.text
    transaction_id: str = prepared.json()["transaction_id"]
    submitted = await client.post(
        "/api/escrow/submit",
        json={
            "transaction_id": transaction_id,
            "signed_transaction": sign_transaction(
                wallet, prepared.json()["transaction"]
            ),
        },
        headers=bearer(tokens),
    )
    assert submitted.status_code == 202, submitted.text
    return transaction_id


async def escrow_round_trip(
    client: httpx.AsyncClient,
    container: Container,
    tokens: dict[str, Any],
    wallet: Wallet,
    path: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Prepare, sign, submit and follow one escrow transaction; returns it."""
    transaction_id = await prepare_and_submit(client, tokens, wallet, path, body)
    await container.escrow.follower.run_once()
    found = await client.get(
        f"/api/escrow/transactions/{transaction_id}", headers=bearer(tokens)
    )
    assert found.status_code == 200, found.text
    result: dict[str, Any] = found.json()
    return result


async def create_funded_escrow(
    client: httpx.AsyncClient,
    container: Container,
    deposit: str | None = "100",
    wallet: Wallet | None = None,
    faucet: str = "1000",
) -> tuple[Wallet, dict[str, Any]]:
    """A registered user whose escrow is initialized and holds `deposit` USDC."""
    wallet = wallet or Wallet()
    tokens = await create_user(client, wallet)
    await fund_wallet(client, wallet, faucet)
    initialized = await escrow_round_trip(
        client, container, tokens, wallet, "/api/escrow/initialize", {}
    )
    assert initialized["status"] == "confirmed", initialized
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
    async with container.engine.connect() as connection:
        total = await connection.scalar(
            text(
                "SELECT coalesce(sum(l.delta), 0) FROM ledger_entries l "
                "JOIN users u ON u.id = l.user_id WHERE u.wallet_address = :w"
            ),
            {"w": wallet_address},
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
