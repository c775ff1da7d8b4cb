"""One-step sign-in with a Wallet Standard `signIn` output, over HTTP.

The nonce is asked with no wallet; the wallet builds the text from
`sign_in_input` and its own address, signs it, and the output is the body.
The nonce is bound to the wallet that first uses it, and used once.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.helpers import (
    create_nonce,
    create_unbound_nonce,
    create_user,
    full_envelope,
    legacy_envelope,
    sign_in_output,
    wallet_standard_text,
)
from tests.integration.test_auth_signin import (
    DETAIL,
    ENDPOINTS,
    assert_accepted,
    assert_refused,
    nonce_row,
    post,
    set_field,
    wallet_for,
)

INPUT_KEYS = {
    "domain",
    "statement",
    "uri",
    "version",
    "chainId",
    "nonce",
    "issuedAt",
    "expirationTime",
}
FORMAT = "message_format check failed: "
ENVELOPES: dict[str, Callable[[str, Wallet], bytes]] = {
    "text": lambda text, wallet: text.encode(),
    "legacy envelope": lambda text, wallet: legacy_envelope(text),
    "full envelope": lambda text, wallet: full_envelope(
        text, [bytes(wallet.keypair.pubkey())]
    ),
}


async def unbound_text(client: httpx.AsyncClient, wallet: Wallet) -> str:
    """A fresh unbound nonce's text as the wallet writes it."""
    nonce = await create_unbound_nonce(client)
    return wallet_standard_text(nonce["sign_in_input"], wallet.address)


def output_body(wallet: Wallet, signed: bytes, **options: Any) -> dict[str, Any]:
    return {"output": sign_in_output(wallet, signed, **options)}


# --- the nonce -------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, {}])
async def test_a_nonce_without_a_wallet_gives_the_sign_in_input(
    client: httpx.AsyncClient, container: Container, body: dict[str, Any] | None
) -> None:
    response = await client.post("/api/auth/nonce", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"nonce", "sign_in_input", "issued_at", "expires_at"}
    sign_in_input = answer["sign_in_input"]
    assert set(sign_in_input) == INPUT_KEYS
    assert sign_in_input["nonce"] == answer["nonce"]
    assert sign_in_input["version"] == "1"
    assert sign_in_input["chainId"] == "devnet"
    row = await nonce_row(container, answer["nonce"])
    assert row["wallet_address"] is None
    assert row["consumed_at"] is None


async def test_a_nonce_for_a_wallet_gives_its_message_and_input(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    answer = await create_nonce(client, wallet)
    sign_in_input = answer["sign_in_input"]
    assert set(sign_in_input) == INPUT_KEYS | {"address"}
    assert sign_in_input["address"] == wallet.address
    assert answer["message"] == wallet_standard_text(sign_in_input, wallet.address)


# --- signing in with the output ---------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("envelope", ENVELOPES)
@pytest.mark.parametrize("base64_signature", [False, True])
async def test_an_output_signs_in(
    client: httpx.AsyncClient,
    container: Container,
    endpoint: str,
    envelope: str,
    base64_signature: bool,
) -> None:
    wallet = await wallet_for(client, endpoint)
    nonce = await create_unbound_nonce(client)
    text_ = wallet_standard_text(nonce["sign_in_input"], wallet.address)
    signed = ENVELOPES[envelope](text_, wallet)
    body = output_body(wallet, signed, base64_signature=base64_signature)
    response = await post(client, endpoint, body)
    assert_accepted(response, endpoint)
    row = await nonce_row(container, nonce["nonce"])
    if endpoint == "verify":
        assert response.json()["wallet_address"] == wallet.address
        assert (row["wallet_address"], row["consumed_at"]) == (None, None)
        return
    assert response.json()["user"]["wallet_address"] == wallet.address
    assert row["wallet_address"] == wallet.address
    assert row["consumed_at"] is not None
    assert_refused(await post(client, endpoint, body), DETAIL["nonce_used"])


async def test_an_output_for_a_wallet_bound_nonce_signs_that_wallet_in(
    client: httpx.AsyncClient,
) -> None:
    wallet, other = Wallet(), Wallet()
    await create_user(client, wallet)
    await create_user(client, other)
    message = (await create_nonce(client, wallet))["message"]
    stolen = message.replace(wallet.address, other.address)
    refused = await post(client, "login", output_body(other, stolen.encode()))
    assert_refused(refused, DETAIL["nonce_wallet"])
    accepted = await post(client, "login", output_body(wallet, message.encode()))
    assert_accepted(accepted, "login")


# --- binding -------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_nonce_used_by_one_wallet_is_used_up_for_another(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    first, second = Wallet(), await wallet_for(client, endpoint)
    nonce = await create_unbound_nonce(client)
    for_first = wallet_standard_text(nonce["sign_in_input"], first.address)
    registered = await post(client, "register", output_body(first, for_first.encode()))
    assert_accepted(registered, "register")
    for_second = wallet_standard_text(nonce["sign_in_input"], second.address)
    again = await post(client, endpoint, output_body(second, for_second.encode()))
    assert_refused(again, DETAIL["nonce_used"])


async def test_verifying_does_not_bind_the_nonce(client: httpx.AsyncClient) -> None:
    looker, user = Wallet(), Wallet()
    nonce = await create_unbound_nonce(client)

    def body(wallet: Wallet) -> dict[str, Any]:
        text_ = wallet_standard_text(nonce["sign_in_input"], wallet.address)
        return output_body(wallet, text_.encode())

    checked = await post(client, "verify", body(looker))
    assert_accepted(checked, "verify")
    assert checked.json()["user_exists"] is False
    assert_accepted(await post(client, "register", body(user)), "register")


@pytest.mark.parametrize("endpoint", ["login", "register"])
async def test_of_two_wallets_using_one_nonce_at_once_exactly_one_wins(
    client: httpx.AsyncClient, container: Container, endpoint: str
) -> None:
    wallets = [await wallet_for(client, endpoint) for _ in range(2)]
    nonce = await create_unbound_nonce(client)
    bodies = [
        output_body(w, wallet_standard_text(nonce["sign_in_input"], w.address).encode())
        for w in wallets
    ]
    responses = await asyncio.gather(*(post(client, endpoint, b) for b in bodies))
    codes = sorted(r.status_code for r in responses)
    assert codes == [{"login": 200, "register": 201}[endpoint], 401], codes
    [loser] = [r for r in responses if r.status_code == 401]
    assert_refused(loser, DETAIL["nonce_used"])
    [winner] = [r for r in responses if r.status_code != 401]
    row = await nonce_row(container, nonce["nonce"])
    assert row["wallet_address"] == winner.json()["user"]["wallet_address"]


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("Chain ID", "mainnet", "chain_id"),
        ("URI", "https://evil.example", "uri"),
        ("Version", "2", "version"),
        ("Nonce", "0123456789abcdef0123456789abcdef", "nonce_unknown"),
    ],
)
async def test_every_check_applies_to_an_output(
    client: httpx.AsyncClient, field: str, value: str, check: str
) -> None:
    wallet = await wallet_for(client, "login")
    text_ = await unbound_text(client, wallet)
    forged = set_field(text_, field, value)
    assert_refused(
        await post(client, "login", output_body(wallet, forged.encode())),
        DETAIL[check],
    )
    assert_accepted(
        await post(client, "login", output_body(wallet, text_.encode())), "login"
    )


async def test_the_output_address_must_be_the_signer_and_the_text_address(
    client: httpx.AsyncClient,
) -> None:
    wallet, other = await wallet_for(client, "login"), Wallet()
    signed = (await unbound_text(client, wallet)).encode()
    body = output_body(wallet, signed)
    by_other = {"output": {**body["output"], "address": other.address}}
    assert_refused(await post(client, "login", by_other), DETAIL["address"])
    resigned = output_body(other, signed)
    assert_refused(await post(client, "login", resigned), DETAIL["address"])
    wrong_key = {"output": {**body["output"], "signature": other.sign_message("x")}}
    assert_refused(await post(client, "login", wrong_key), DETAIL["signature"])
    assert_accepted(await post(client, "login", body), "login")


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ("\nNot Before: 2026-01-01T00:00:00.000Z", "message has 'Not Before', which"),
        ("\nRequest ID: 42", "message has 'Request ID', which"),
        ("\nResources:\n- https://example.com", "message has 'Resources:', which"),
        ("\nNonce: abcdefgh1", "'Nonce' is out of order or repeated"),
        ("\nColour: blue", "unexpected line in the message"),
    ],
)
async def test_a_field_the_server_did_not_issue_is_refused(
    client: httpx.AsyncClient, extra: str, detail: str
) -> None:
    wallet = await wallet_for(client, "login")
    text_ = await unbound_text(client, wallet)
    forged = output_body(wallet, (text_ + extra).encode())
    response = await post(client, "login", forged)
    assert response.status_code == 401, response.text
    assert response.json()["detail"].startswith(FORMAT + detail)
    assert_accepted(
        await post(client, "login", output_body(wallet, text_.encode())), "login"
    )


async def test_a_malformed_signed_message_or_signature_is_a_401_naming_it(
    client: httpx.AsyncClient,
) -> None:
    wallet = await wallet_for(client, "login")
    signed = (await unbound_text(client, wallet)).encode()
    good = sign_in_output(wallet, signed)
    raw = bytes(wallet.keypair.sign_message(signed))
    cases = {
        FORMAT + "signed_message must be base64": {"signed_message": "not base64!"},
        FORMAT + "signed_message is not UTF-8 text": {
            "signed_message": base64.b64encode(b"\xff\xfe" + signed).decode(),
            "signature": str(wallet.keypair.sign_message(b"\xff\xfe" + signed)),
        },
        "signature_format check failed: signature must be base64": {
            "signature": base64.b64encode(raw).decode()[:-3] + "B=="
        },
        DETAIL["signature_format_base58"]: {"signature": "0" * 88},
    }
    for detail, change in cases.items():
        body = {"output": {**good, **change}}
        assert_refused(await post(client, "login", body), detail)
    assert_accepted(await post(client, "login", {"output": good}), "login")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_body_in_both_forms_or_neither_is_a_422_naming_the_fields(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = Wallet()
    signed = (await unbound_text(client, wallet)).encode()
    output = sign_in_output(wallet, signed)
    legacy = {"wallet_address": wallet.address, "message": "x", "signature": "y"}
    unsigned = {k: v for k, v in output.items() if k != "signature"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "give exactly one of"),
        ({"output": output, **legacy}, "give exactly one of"),
        ({"output": output, "message_encoding": "text"}, "give exactly one of"),
        ({"wallet_address": wallet.address, "message": "x"}, "signature is required"),
        ({"output": None}, "output is required"),
        ({"output": {**output, "extra": 1}}, "extra"),
        ({"output": unsigned}, "signature"),
        ({"output": {**output, "address": "0OIl"}}, "address"),
        ({"output": {**output, "signed_message": ""}}, "signed_message"),
    ]
    for body, named in cases:
        response = await post(client, endpoint, body)
        assert response.status_code == 422, (body, response.text)
        assert named in response.text, (body, response.text)


def test_openapi_says_the_nonce_body_is_optional_and_both_forms(
    container: Container,
) -> None:
    schema = create_app(container, manage_lifespan=False).openapi()
    operation = schema["paths"]["/api/auth/nonce"]["post"]
    assert operation["requestBody"].get("required", False) is False
    models = schema["components"]["schemas"]
    assert "wallet_address" not in models["NonceIn"].get("required", [])
    nonce_out = models["NonceOut"]
    assert set(nonce_out["required"]) == {
        "nonce",
        "sign_in_input",
        "issued_at",
        "expires_at",
    }
    assert {"chainId", "issuedAt"} <= set(models["SignInInputOut"]["properties"])
    assert {"output", "wallet_address"} <= set(models["SignedIn"]["properties"])
    assert set(models["WalletStandardOutputIn"]["required"]) == {
        "address",
        "signed_message",
        "signature",
    }
