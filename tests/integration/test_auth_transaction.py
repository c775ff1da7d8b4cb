"""Sign-in by transaction over HTTP, as a Ledger behind a wallet does it.

The nonce comes with an unsigned transaction carrying the sign-in text in a
Memo instruction; the wallet signs the transaction, never the text; the
service checks the signature over the transaction's message, the memo as a
sign-in text, and the nonce. The transaction can never be broadcast.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.escrow import ChainRejected
from pourtier.domain.sign_in_transaction import MEMO_PROGRAM_ID, SIGN_IN_BLOCKHASH
from tests.integration.test_auth_signin import (
    DETAIL,
    ENDPOINTS,
    assert_accepted,
    assert_refused,
    post,
    set_field,
    wallet_for,
)
from tests.subscription_helpers import local

TRANSACTION = "transaction check failed: "
MEMO = Pubkey.from_string(MEMO_PROGRAM_ID)


async def transaction_nonce(
    client: httpx.AsyncClient, wallet: Wallet
) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/nonce",
        json={"wallet_address": wallet.address, "method": "transaction"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def memo_transaction(keypair: Keypair, text: str) -> str:
    """A sign-in transaction built by the test with another text, signed."""
    memo = Instruction(
        MEMO,
        text.encode(),
        [AccountMeta(keypair.pubkey(), is_signer=True, is_writable=True)],
    )
    message = Message.new_with_blockhash([memo], keypair.pubkey(), Hash.default())
    signed = Transaction([keypair], message, Hash.default())
    return base64.b64encode(bytes(signed)).decode()


def body_of(wallet: Wallet, signed_transaction: str) -> dict[str, Any]:
    return {"wallet_address": wallet.address, "signed_transaction": signed_transaction}


async def test_the_nonce_carries_the_unsigned_transaction_of_its_message(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    nonce = await transaction_nonce(client, wallet)
    unsigned = Transaction.from_bytes(base64.b64decode(nonce["transaction"]))
    assert unsigned.message.account_keys[0] == wallet.keypair.pubkey()
    assert str(unsigned.message.account_keys[1]) == MEMO_PROGRAM_ID
    assert bytes(unsigned.message.recent_blockhash) == SIGN_IN_BLOCKHASH
    [instruction] = unsigned.message.instructions
    assert bytes(instruction.data).decode() == nonce["message"]
    plain = await client.post(
        "/api/auth/nonce", json={"wallet_address": wallet.address}
    )
    assert "transaction" not in plain.json()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_signed_transaction_signs_in(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    nonce = await transaction_nonce(client, wallet)
    body = body_of(wallet, wallet.sign_transaction(nonce["transaction"]))
    response = await post(client, endpoint, body)
    assert_accepted(response, endpoint)
    if endpoint != "verify":
        assert response.json()["user"]["wallet_address"] == wallet.address
        again = await post(client, endpoint, body)
        assert_refused(again, DETAIL["nonce_used"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_another_wallets_transaction_is_refused(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet, other = await wallet_for(client, endpoint), Wallet()
    nonce = await transaction_nonce(client, other)
    body = body_of(wallet, other.sign_transaction(nonce["transaction"]))
    response = await post(client, endpoint, body)
    assert_refused(response, TRANSACTION + "transaction's fee payer is not this wallet")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_signature_by_another_key_is_refused(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    nonce = await transaction_nonce(client, wallet)
    raw = bytearray(base64.b64decode(wallet.sign_transaction(nonce["transaction"])))
    message = bytes(raw[65:])
    raw[1:65] = bytes(Keypair().sign_message(message))
    response = await post(
        client, endpoint, body_of(wallet, base64.b64encode(raw).decode())
    )
    assert_refused(response, DETAIL["signature"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_the_memo_is_checked_as_any_sign_in_text(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    """Re-signed with a memo for another domain: the text's own check fails."""
    wallet = await wallet_for(client, endpoint)
    text = (await transaction_nonce(client, wallet))["message"]
    lines = text.split("\n")
    forged = "\n".join(["evil.example" + lines[0][lines[0].index(" ") :], *lines[1:]])
    response = await post(
        client, endpoint, body_of(wallet, memo_transaction(wallet.keypair, forged))
    )
    assert_refused(response, DETAIL["domain"])
    forged_uri = set_field(text, "URI", "https://evil.example")
    response = await post(
        client, endpoint, body_of(wallet, memo_transaction(wallet.keypair, forged_uri))
    )
    assert_refused(response, DETAIL["uri"])
    honest = await post(
        client, endpoint, body_of(wallet, memo_transaction(wallet.keypair, text))
    )
    assert_accepted(honest, endpoint)


async def test_a_signed_sign_in_transaction_cannot_be_broadcast(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    chain = local(container)
    chain.faucet(wallet.keypair.pubkey(), 0, 10**9)  # it could pay the fee
    nonce = await transaction_nonce(client, wallet)
    raw = base64.b64decode(wallet.sign_transaction(nonce["transaction"]))
    with pytest.raises(ChainRejected, match="blockhash"):
        await chain.node.send_raw(raw)


@pytest.mark.parametrize(
    "extra",
    [
        {"message": "text"},
        {"signature": "1" * 88},
        {"message": "text", "signature": "1" * 88},
    ],
)
async def test_a_transaction_with_a_message_too_is_a_validation_error(
    client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    wallet = Wallet()
    nonce = await transaction_nonce(client, wallet)
    body = body_of(wallet, wallet.sign_transaction(nonce["transaction"])) | extra
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 422, response.text
    assert "signed_transaction" in response.text


async def test_neither_form_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", json={"wallet_address": Wallet().address}
    )
    assert response.status_code == 422, response.text
    assert "give exactly one of" in response.text


async def test_a_transaction_that_is_not_base64_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/login", json=body_of(Wallet(), "not base64!")
    )
    assert_refused(response, TRANSACTION + "transaction must be base64")
