"""Plain factory functions for tests: real keys, real signatures, real HTTP."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pourtier.client.wallet import Wallet
from pourtier.domain.base58 import b58encode
from pourtier.domain.users import User


@dataclass
class TestClock:
    """Real time plus an offset a test may move, shared with the app."""

    __test__ = False

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def create_nonce(
    client: httpx.AsyncClient, wallet: Wallet, purpose: str | None = None
) -> dict[str, Any]:
    """A nonce for `purpose` (left out of the request: the default, sign-in)."""
    asked = {"wallet_address": wallet.address}
    if purpose is not None:
        asked["purpose"] = purpose
    response = await client.post("/api/auth/nonce", json=asked)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_signed_message(
    client: httpx.AsyncClient, wallet: Wallet, purpose: str | None = None
) -> dict[str, str]:
    """A fresh nonce's message, signed by the wallet: the body of verify/login
    (or, for purpose `link`, of a wallet link)."""
    message = (await create_nonce(client, wallet, purpose))["message"]
    return {
        "wallet_address": wallet.address,
        "message": message,
        "signature": wallet.sign_message(message),
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


async def login(client: httpx.AsyncClient, wallet: Wallet) -> dict[str, Any]:
    """Sign in again (e.g. after the clock moved past the access token)."""
    response = await client.post(
        "/api/auth/login", json=await create_signed_message(client, wallet)
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def link_wallet(
    client: httpx.AsyncClient, tokens: dict[str, Any], wallet: Wallet
) -> httpx.Response:
    """Link `wallet` to the account of `tokens`, proven by its signed message."""
    body = await create_signed_message(client, wallet, "link")
    return await client.post("/api/users/me/wallets", json=body, headers=bearer(tokens))


TOKEN_WALLET = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"


def token_holder(user_id: uuid.UUID | None = None) -> User:
    """An account of TOKEN_WALLET to issue access tokens to, without a database."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return User(TOKEN_WALLET, at, at, id=user_id or uuid.uuid4())


def legacy_envelope(text: str, message_format: int = 1) -> bytes:
    """Version 0 as `solana sign-offchain-message` lays it out, byte by byte."""
    body = text.encode("utf-8")
    return (
        b"\xffsolana offchain"
        + bytes([0, message_format])
        + len(body).to_bytes(2, "little")
        + body
    )


def full_envelope(
    text: str,
    signers: list[bytes],
    application_domain: bytes = bytes(32),
    message_format: int = 1,
) -> bytes:
    """Version 0 with application domain and signer list, byte by byte."""
    body = text.encode("utf-8")
    return (
        b"\xffsolana offchain"
        + bytes([0])
        + application_domain
        + bytes([message_format, len(signers)])
        + b"".join(signers)
        + len(body).to_bytes(2, "little")
        + body
    )


async def create_unbound_nonce(client: httpx.AsyncClient) -> dict[str, Any]:
    """A nonce asked with no body, as a Wallet Standard sign-in does."""
    response = await client.post("/api/auth/nonce")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wallet_standard_text(sign_in_input: dict[str, str], address: str) -> str:
    """The text a wallet's `signIn` writes for the input, laid out by hand as
    `createSignInMessageText` does (the reference client checks it too)."""
    names = ("URI", "Version", "Chain ID", "Nonce", "Issued At", "Expiration Time")
    keys = ("uri", "version", "chainId", "nonce", "issuedAt", "expirationTime")
    return "\n".join(
        [
            f"{sign_in_input['domain']} wants you to sign in with your Solana account:",
            address,
            "",
            sign_in_input["statement"],
            "",
            *(f"{n}: {sign_in_input[k]}" for n, k in zip(names, keys, strict=True)),
        ]
    )


def sign_in_output(
    wallet: Wallet, signed: bytes, *, base64_signature: bool = False
) -> dict[str, str]:
    """A `solana:signIn` output over `signed`, as the body's `output`."""
    raw = bytes(wallet.keypair.sign_message(signed))
    return {
        "address": wallet.address,
        "signed_message": base64.b64encode(signed).decode(),
        "signature": (
            base64.b64encode(raw).decode() if base64_signature else b58encode(raw)
        ),
    }
