"""Sign-in with the message inside a Solana off-chain envelope, over HTTP.

The wallet signs the envelope's bytes (as `solana sign-offchain-message` and
the Ledger app do); the body sends them base64 with `message_encoding:
"offchain"`. Every tampered envelope is re-signed, so only its layout is wrong.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from tests.helpers import (
    create_nonce,
    full_envelope,
    legacy_envelope,
)
from tests.integration.test_auth_signin import (
    DETAIL,
    ENDPOINTS,
    assert_accepted,
    assert_refused,
    post,
    set_line,
    wallet_for,
)

LAYOUTS: dict[str, Callable[[str, Wallet], bytes]] = {
    "legacy": lambda text, wallet: legacy_envelope(text),
    "full": lambda text, wallet: full_envelope(text, [bytes(wallet.keypair.pubkey())]),
}
FORMAT = "message_format check failed: "


def enveloped(wallet: Wallet, signed: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "wallet_address": wallet.address,
        "message": base64.b64encode(signed).decode(),
        "signature": str(wallet.keypair.sign_message(signed)),
        "message_encoding": "offchain",
        **extra,
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("layout", LAYOUTS)
async def test_an_enveloped_message_signs_in(
    client: httpx.AsyncClient, endpoint: str, layout: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    text = (await create_nonce(client, wallet))["message"]
    body = enveloped(wallet, LAYOUTS[layout](text, wallet))
    response = await post(client, endpoint, body)
    assert_accepted(response, endpoint)
    if endpoint != "verify":
        assert response.json()["user"]["wallet_address"] == wallet.address
        assert_refused(await post(client, endpoint, body), DETAIL["nonce_used"])


async def test_enveloped_login_makes_a_working_session(
    client: httpx.AsyncClient,
) -> None:
    wallet = await wallet_for(client, "login")
    text = (await create_nonce(client, wallet))["message"]
    response = await post(client, "login", enveloped(wallet, legacy_envelope(text)))
    token = response.json()["access_token"]
    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_the_signature_must_cover_the_envelope_not_the_text(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    text = (await create_nonce(client, wallet))["message"]
    body = enveloped(wallet, legacy_envelope(text))
    bare = {**body, "signature": wallet.sign_message(text)}
    assert_refused(await post(client, endpoint, bare), DETAIL["signature"])
    assert_accepted(await post(client, endpoint, body), endpoint)


async def test_an_envelope_sent_as_text_is_not_a_sign_in_message(
    client: httpx.AsyncClient,
) -> None:
    wallet = await wallet_for(client, "verify")
    text = (await create_nonce(client, wallet))["message"]
    body = enveloped(wallet, legacy_envelope(text))
    response = await post(client, "verify", {**body, "message_encoding": "text"})
    assert_refused(response, FORMAT + "message layout is not SIWS")
    assert_accepted(await post(client, "verify", body), "verify")


def _tamper(signed: bytes, at: slice, value: bytes) -> bytes:
    changed = bytearray(signed)
    changed[at] = value
    return bytes(changed)


TAMPERED: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "length": (
        lambda s: _tamper(s, slice(18, 20), (len(s) - 19).to_bytes(2, "little")),
        "off-chain message header does not match its length",
    ),
    "trailing": (
        lambda s: s + b"\n",
        "off-chain message header does not match its length",
    ),
    "version": (
        lambda s: _tamper(s, slice(16, 17), b"\x01"),
        "off-chain message header version must be 0",
    ),
    "domain": (
        lambda s: _tamper(s, slice(1, 7), b"SOLANA"),
        "off-chain message lacks the Solana signing domain",
    ),
    "format": (
        lambda s: _tamper(s, slice(17, 18), b"\x02"),
        "off-chain message format must be 0 or 1",
    ),
    "ascii": (
        lambda s: _tamper(s, slice(17, 18), b"\x00"),
        "off-chain message is not restricted ASCII",
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", TAMPERED)
async def test_a_tampered_envelope_is_refused_as_a_malformed_message(
    client: httpx.AsyncClient, endpoint: str, case: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    text = (await create_nonce(client, wallet))["message"]
    signed = legacy_envelope(text)
    edit, reason = TAMPERED[case]
    assert_refused(
        await post(client, endpoint, enveloped(wallet, edit(signed))), FORMAT + reason
    )
    assert_accepted(await post(client, endpoint, enveloped(wallet, signed)), endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_signer_list_without_the_wallet_is_refused(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    text = (await create_nonce(client, wallet))["message"]
    other = bytes(Wallet().keypair.pubkey())
    response = await post(
        client, endpoint, enveloped(wallet, full_envelope(text, [other]))
    )
    assert_refused(
        response,
        "signer check failed: off-chain message does not list this wallet as a signer",
    )
    mine = bytes(wallet.keypair.pubkey())
    signed = full_envelope(text, [other, mine])
    assert_accepted(await post(client, endpoint, enveloped(wallet, signed)), endpoint)


async def test_the_text_inside_gets_every_sign_in_check(
    client: httpx.AsyncClient,
) -> None:
    wallet = await wallet_for(client, "login")
    text = (await create_nonce(client, wallet))["message"]
    other = set_line(text, 1, Wallet().address)
    response = await post(client, "login", enveloped(wallet, legacy_envelope(other)))
    assert_refused(response, DETAIL["address"])
    assert_accepted(
        await post(client, "login", enveloped(wallet, legacy_envelope(text))), "login"
    )


@pytest.mark.parametrize("message", ["not base64!", "QUJD=", "AAAA AAAA"])
async def test_an_offchain_message_that_is_not_base64_is_refused(
    client: httpx.AsyncClient, message: str
) -> None:
    wallet = await wallet_for(client, "verify")
    body = enveloped(wallet, legacy_envelope("x"), message=message)
    response = await post(client, "verify", body)
    assert_refused(response, FORMAT + "an off-chain message must be base64")


async def test_an_unknown_message_encoding_is_a_validation_error(
    client: httpx.AsyncClient,
) -> None:
    wallet = await wallet_for(client, "verify")
    body = enveloped(wallet, legacy_envelope("x"), message_encoding="base64")
    assert (await post(client, "verify", body)).status_code == 422
