"""Sign-In-With-Solana over HTTP: every check the verifier makes, one at a time.

Each forged message differs from a server-issued one in a single line and is
re-signed by the wallet, so exactly one check is wrong; the same untouched
message is then used successfully to show that nothing else was.
"""

from __future__ import annotations

import asyncio
import base64
import math
import string
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.base58 import b58encode
from pourtier.domain.legal import DocumentType
from pourtier.domain.sign_in import LINK_STATEMENT
from tests.conftest import AUTH_DOMAIN, AUTH_URI
from tests.helpers import (
    active_document_ids,
    create_nonce,
    create_signed_message,
    create_user,
)

if TYPE_CHECKING:
    from tests.helpers import TestClock

HEADER = " wants you to sign in with your Solana account:"
CLIENT_IP = "203.0.113.7"
ENDPOINTS = ("verify", "login", "register")

REASON = {
    "address": "message address does not match wallet_address",
    "domain": "message is for another domain",
    "uri": "message is for another URI",
    "version": "message version must be 1",
    "chain_id": "message is for another cluster",
    "issued_at": "message is issued in the future",
    "expiration_time": "message has expired",
    "statement": "message statement is not the sign_in one",
    "signature": "signature does not match the wallet and message",
    "signature_format_base58": "signature must be base58",
    "signature_format_length": "signature must be 64 bytes",
    "signature_size": "signature is too long",
    "message_size": "message exceeds 2048 bytes",
    "nonce_unknown": "nonce was not issued by this server",
    "nonce_wallet": "nonce was not issued to this wallet",
    "nonce_used": "nonce has already been used",
    "nonce_expired": "nonce has expired",
}


def _check_name(key: str) -> str:
    for prefix in ("signature_format", "nonce"):
        if key.startswith(prefix):
            return prefix
    return key


DETAIL = {k: f"{_check_name(k)} check failed: {r}" for k, r in REASON.items()}


# --- helpers -------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def set_line(message: str, index: int, line: str) -> str:
    lines = message.split("\n")
    assert len(lines) == 11, message
    lines[index] = line
    return "\n".join(lines)


def set_field(message: str, name: str, value: str) -> str:
    """Replace the value of the one `Name: value` line."""
    lines = message.split("\n")
    [index] = [i for i, line in enumerate(lines) if line.startswith(f"{name}: ")]
    return set_line(message, index, f"{name}: {value}")


def field(message: str, name: str) -> str:
    [value] = [
        line.removeprefix(f"{name}: ")
        for line in message.split("\n")
        if line.startswith(f"{name}: ")
    ]
    return value


def changed_lines(before: str, after: str) -> int:
    pairs = zip(before.split("\n"), after.split("\n"), strict=True)
    return sum(a != b for a, b in pairs)


def signed(wallet: Wallet, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "wallet_address": wallet.address,
        "message": message,
        "signature": wallet.sign_message(message),
        **extra,
    }


async def post(
    client: httpx.AsyncClient, endpoint: str, body: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    if endpoint == "register" and "accepted_document_ids" not in body:
        body = {**body, "accepted_document_ids": await active_document_ids(client)}
    return await client.post(f"/api/auth/{endpoint}", json=body, **kwargs)


def assert_refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": detail, "check": detail.split(" ")[0]}
    assert response.headers["www-authenticate"] == "Bearer"


def assert_accepted(response: httpx.Response, endpoint: str) -> None:
    expected = {"verify": 200, "login": 200, "register": 201}[endpoint]
    assert response.status_code == expected, response.text


async def wallet_for(client: httpx.AsyncClient, endpoint: str) -> Wallet:
    """A wallet in the state the endpoint needs: registered only for login."""
    wallet = Wallet()
    if endpoint == "login":
        await create_user(client, wallet)
    return wallet


async def nonce_row(container: Container, value: str) -> dict[str, Any]:
    async with container.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT * FROM auth_nonces WHERE value = :v"), {"v": value}
            )
        ).one()
    return dict(row._mapping)


async def count(container: Container, sql: str, **params: Any) -> int:
    async with container.engine.connect() as connection:
        return int((await connection.execute(text(sql), params)).scalar_one())


# --- the nonce endpoint ----------------------------------------------------------


async def test_nonce_returns_the_message_to_sign(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    before = clock()
    body = await create_nonce(client, wallet)
    after = clock()

    assert set(body) == {
        "nonce",
        "message",
        "sign_in_input",
        "issued_at",
        "expires_at",
    }
    assert "transaction" not in body  # only when asked for
    issued_at = datetime.fromisoformat(body["issued_at"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before - timedelta(milliseconds=1) <= issued_at <= after
    assert expires_at - issued_at == timedelta(minutes=5)
    assert body["message"].split("\n") == [
        AUTH_DOMAIN + HEADER,
        wallet.address,
        "",
        body["message"].split("\n")[3],
        "",
        f"URI: {AUTH_URI}",
        "Version: 1",
        "Chain ID: devnet",
        f"Nonce: {body['nonce']}",
        f"Issued At: {stamp(issued_at)}",
        f"Expiration Time: {stamp(expires_at)}",
    ]


async def test_nonce_follows_the_test_clock(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    clock.offset = timedelta(days=3)
    body = await create_nonce(client, Wallet())
    issued_at = datetime.fromisoformat(body["issued_at"])
    assert abs(issued_at - clock()) < timedelta(seconds=5)


async def test_nonce_is_stored_bound_to_the_wallet_for_five_minutes(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    body = await create_nonce(client, wallet)
    row = await nonce_row(container, body["nonce"])
    assert row["wallet_address"] == wallet.address
    assert row["consumed_at"] is None
    assert row["expires_at"] - row["issued_at"] == timedelta(minutes=5)
    assert row["expires_at"] == datetime.fromisoformat(body["expires_at"])


async def test_nonces_carry_at_least_96_random_bits(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    nonces = [(await create_nonce(client, wallet))["nonce"] for _ in range(20)]
    assert len(set(nonces)) == len(nonces)
    # Random values share no long prefix; counters and timestamps would.
    assert len({n[:8] for n in nonces}) == len(nonces)
    for nonce in nonces:
        alphabet = 16 if set(nonce) <= set(string.hexdigits) else 62
        assert len(nonce) * math.log2(alphabet) >= 96


async def test_nonce_message_ignores_the_host_header(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/nonce",
        json={"wallet_address": Wallet().address},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 200, response.text
    message = response.json()["message"]
    assert message.split("\n")[0] == AUTH_DOMAIN + HEADER
    assert field(message, "URI") == AUTH_URI


# --- invalid wallet addresses: a client error, never a 500 ---------------------

BAD_ADDRESSES = [
    "",
    "abc",
    "0" * 32,  # '0' is not in the base58 alphabet
    "O" * 44,
    "I" * 40,
    "l" * 40,
    b58encode(b"\xff" * 31),  # 31 bytes
    b58encode(b"\x00" * 10 + b"\xff" * 23),  # 33 bytes within 44 characters
    b58encode(b"\xff" * 33),  # 33 bytes, too long
    " " + b58encode(b"\x07" * 32),
    b58encode(b"\x07" * 32)[:-1] + "\u0661",  # an Arabic-Indic digit
    "1" * 45,
]


@pytest.mark.parametrize("endpoint", ["nonce", *ENDPOINTS])
@pytest.mark.parametrize("address", BAD_ADDRESSES)
async def test_an_invalid_wallet_address_is_a_client_error(
    client: httpx.AsyncClient, endpoint: str, address: str
) -> None:
    body: dict[str, Any] = {"wallet_address": address}
    if endpoint != "nonce":
        body |= {"message": "hello", "signature": "1" * 88}
    if endpoint == "register":
        body["accepted_document_ids"] = []
    response = await client.post(f"/api/auth/{endpoint}", json=body)
    assert response.status_code in {400, 422}, response.text


# --- one wrong line in a re-signed message ----------------------------------------


def forge_cases(now: datetime, other: Wallet) -> dict[str, tuple[str, Any]]:
    """Case id -> (expected check, function editing the issued message)."""
    return {
        "domain-other": ("domain", lambda m: set_line(m, 0, "evil.example" + HEADER)),
        "domain-suffix": (
            "domain",
            lambda m: set_line(m, 0, f"{AUTH_DOMAIN}.evil.example{HEADER}"),
        ),
        "domain-port": (
            "domain",
            lambda m: set_line(m, 0, f"{AUTH_DOMAIN}:443{HEADER}"),
        ),
        "uri-other": ("uri", lambda m: set_field(m, "URI", "https://evil.example")),
        "uri-http": (
            "uri",
            lambda m: set_field(m, "URI", AUTH_URI.replace("https", "http")),
        ),
        "uri-path": ("uri", lambda m: set_field(m, "URI", AUTH_URI + "/login")),
        "version-2": ("version", lambda m: set_field(m, "Version", "2")),
        "version-1.0": ("version", lambda m: set_field(m, "Version", "1.0")),
        "chain-mainnet": ("chain_id", lambda m: set_field(m, "Chain ID", "mainnet")),
        "chain-testnet": ("chain_id", lambda m: set_field(m, "Chain ID", "testnet")),
        "chain-caip2": (
            "chain_id",
            lambda m: set_field(m, "Chain ID", "solana:devnet"),
        ),
        "issued-in-future": (
            "issued_at",
            lambda m: set_field(m, "Issued At", stamp(now + timedelta(seconds=90))),
        ),
        "expired": (
            "expiration_time",
            lambda m: set_field(
                m, "Expiration Time", stamp(now - timedelta(seconds=1))
            ),
        ),
        "statement-link": ("statement", lambda m: set_line(m, 3, LINK_STATEMENT)),
        "statement-other": (
            "statement",
            lambda m: set_line(m, 3, "Sign in to Pourtier. Fees may apply."),
        ),
        "address-other": ("address", lambda m: set_line(m, 1, other.address)),
        "nonce-unknown": (
            "nonce_unknown",
            lambda m: set_field(m, "Nonce", uuid.uuid4().hex),
        ),
    }


FORGE_IDS = list(forge_cases(datetime.now(UTC), Wallet()))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", FORGE_IDS)
async def test_a_message_wrong_in_one_line_is_refused_naming_the_check(
    client: httpx.AsyncClient, clock: TestClock, endpoint: str, case: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    check, edit = forge_cases(clock(), Wallet())[case]
    message = (await create_nonce(client, wallet))["message"]
    forged = edit(message)
    assert changed_lines(message, forged) == 1

    assert_refused(await post(client, endpoint, signed(wallet, forged)), DETAIL[check])
    assert_accepted(await post(client, endpoint, signed(wallet, message)), endpoint)


async def test_issued_at_within_60_seconds_of_skew_is_accepted(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    message = (await create_nonce(client, wallet))["message"]
    early = set_field(message, "Issued At", stamp(clock() + timedelta(seconds=45)))
    assert_accepted(await post(client, "login", signed(wallet, early)), "login")


async def test_domain_comes_from_configuration_not_the_host_header(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    message = (await create_nonce(client, wallet))["message"]
    for_evil = set_line(message, 0, "evil.example" + HEADER)
    for_evil = set_field(for_evil, "URI", "https://evil.example")
    evil_host = {"Host": "evil.example"}

    response = await post(client, "login", signed(wallet, for_evil), headers=evil_host)
    assert_refused(response, DETAIL["domain"])
    response = await post(client, "login", signed(wallet, message), headers=evil_host)
    assert_accepted(response, "login")


async def test_a_message_for_another_wallet_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """Victim's message signed by the attacker, and the attacker's by the victim."""
    victim, attacker = Wallet(), Wallet()
    await create_user(client, victim)
    await create_user(client, attacker)
    victims = (await create_nonce(client, victim))["message"]
    body = signed(attacker, victims)
    assert_refused(await post(client, "login", body), DETAIL["address"])

    body = signed(victim, victims)
    body["wallet_address"] = attacker.address
    assert_refused(await post(client, "login", body), DETAIL["address"])
    assert_accepted(await post(client, "login", signed(victim, victims)), "login")


# --- the signature ---------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_signature_by_another_key_is_refused(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    body = await create_signed_message(client, wallet)
    forged = {**body, "signature": Wallet().sign_message(body["message"])}
    assert_refused(await post(client, endpoint, forged), DETAIL["signature"])
    assert_accepted(await post(client, endpoint, body), endpoint)


async def test_the_signature_covers_the_exact_utf8_bytes(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The statement is the text the wallet shows; a deployment's non-ASCII one
    # makes the encoding matter. NFC "à" sent, NFD "a" + U+0300 signed: other
    # bytes, though the same text to the eye.
    policy = replace(container.auth.policy, statement="Connexion à Pourtier ✓")
    monkeypatch.setattr(container.auth, "policy", policy)
    wallet = Wallet()
    await create_user(client, wallet)
    composed = (await create_nonce(client, wallet))["message"]
    assert composed.split("\n")[3] == "Connexion à Pourtier ✓"
    decomposed = set_line(composed, 3, "Connexion a\u0300 Pourtier ✓")
    key = wallet.keypair

    def body(text_: str, signature: object) -> dict[str, str]:
        return {
            "wallet_address": wallet.address,
            "message": text_,
            "signature": str(signature),
        }

    wrong = [
        body(composed, key.sign_message(decomposed.encode("utf-8"))),
        body(composed, key.sign_message(composed.encode("utf-16-le"))),
        body(composed, key.sign_message((composed + "\n").encode("utf-8"))),
        body(composed, key.sign_message(composed.replace("\n", "\r\n").encode())),
    ]
    for attempt in wrong:
        assert_refused(await post(client, "login", attempt), DETAIL["signature"])
    # The decomposed text itself is not the statement, whoever signed it.
    refused = body(decomposed, key.sign_message(decomposed.encode("utf-8")))
    assert_refused(await post(client, "login", refused), DETAIL["statement"])
    right = body(composed, key.sign_message(composed.encode("utf-8")))
    assert_accepted(await post(client, "login", right), "login")


@pytest.mark.parametrize(
    ("signature", "check"),
    [
        ("0" * 88, "signature_format_base58"),
        ("+/" * 44, "signature_format_base58"),
        (b58encode(b"\x05" * 63), "signature_format_length"),
        (b58encode(b"\x05" * 65), "signature_format_length"),
        ("1" * 129, "signature_size"),
        ("2" * 256, "signature_size"),
        (b58encode(bytes(64)), "signature"),
    ],
)
async def test_a_malformed_signature_is_refused_naming_the_check(
    client: httpx.AsyncClient, signature: str, check: str
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    bad = {**body, "signature": signature}
    assert_refused(await post(client, "login", bad), DETAIL[check])
    assert_accepted(await post(client, "login", body), "login")


async def test_a_hex_or_base64_signature_is_refused(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    raw = bytes(wallet.keypair.sign_message(body["message"].encode()))
    for encoded in (raw.hex(), base64.b64encode(raw).decode()):
        response = await post(client, "login", {**body, "signature": encoded})
        assert response.status_code == 401, response.text
        assert response.json()["detail"].startswith(
            "signature_format check failed: signature must be"
        )
    assert_accepted(await post(client, "login", body), "login")


# --- sizes ---------------------------------------------------------------------------


def padded(message: str, size: int, filler: str) -> str:
    """The message with its statement grown to `size` UTF-8 bytes or just over."""
    room = size - len(message.encode()) + len(message.split("\n")[3].encode())
    return set_line(message, 3, filler * math.ceil(room / len(filler.encode())))


@pytest.mark.parametrize("filler", ["x", "é", "🙂"])
async def test_a_message_over_2048_utf8_bytes_is_refused(
    client: httpx.AsyncClient, filler: str
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    message = (await create_nonce(client, wallet))["message"]
    big = padded(message, 2049, filler)
    assert 2049 <= len(big.encode()) <= 2052
    assert len(big) <= 4096
    assert_refused(
        await post(client, "login", signed(wallet, big)), DETAIL["message_size"]
    )
    assert_accepted(await post(client, "login", signed(wallet, message)), "login")


async def test_oversized_bodies_are_refused_before_any_work(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    body = await create_signed_message(client, wallet)
    huge = {**body, "message": "x" * 4097}
    assert (await post(client, "login", huge)).status_code == 422
    long_signature = {**body, "signature": "2" * 257}
    assert (await post(client, "login", long_signature)).status_code == 422


async def test_a_nonce_line_that_could_not_be_ours_is_a_401_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    """PostgreSQL refuses NUL in text: it must never reach the nonce lookup."""
    wallet = Wallet()
    await create_user(client, wallet)
    message = (await create_nonce(client, wallet))["message"]
    for nonce in ("abcd\x00efgh", "x" * 65, "ab'; --", "abc"):
        forged = set_field(message, "Nonce", nonce)
        response = await post(client, "login", signed(wallet, forged))
        assert response.status_code == 401, response.text
        assert "Nonce" in response.json()["detail"]
    assert_accepted(await post(client, "login", signed(wallet, message)), "login")


# --- the nonce: ours, this wallet's, unexpired, unused ----------------------------


async def test_a_nonce_issued_to_another_wallet_is_refused(
    client: httpx.AsyncClient,
) -> None:
    owner, thief = Wallet(), Wallet()
    await create_user(client, thief)
    owners = (await create_nonce(client, owner))["message"]
    stolen = set_line(owners, 1, thief.address)
    assert_refused(
        await post(client, "login", signed(thief, stolen)), DETAIL["nonce_wallet"]
    )
    assert_refused(
        await post(client, "register", signed(thief, stolen)), DETAIL["nonce_wallet"]
    )


async def test_a_nonce_works_once(client: httpx.AsyncClient) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    assert_accepted(await post(client, "login", body), "login")
    for endpoint in ENDPOINTS:
        assert_refused(await post(client, endpoint, body), DETAIL["nonce_used"])


async def test_a_nonce_past_its_stored_expiry_is_refused(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    """The message still looks current; only the nonce row has expired."""
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    nonce = field(body["message"], "Nonce")
    async with container.engine.begin() as connection:
        await connection.execute(
            text("UPDATE auth_nonces SET expires_at = :t WHERE value = :v"),
            {"t": clock() - timedelta(seconds=1), "v": nonce},
        )
    for endpoint in ENDPOINTS:
        assert_refused(await post(client, endpoint, body), DETAIL["nonce_expired"])


async def test_a_nonce_is_dead_after_five_minutes_whatever_the_message_says(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    message = (await create_nonce(client, wallet))["message"]
    clock.offset = timedelta(minutes=5, seconds=1)
    assert_refused(
        await post(client, "login", signed(wallet, message)), DETAIL["expiration_time"]
    )

    longer = set_field(message, "Expiration Time", stamp(clock() + timedelta(hours=1)))
    assert_refused(
        await post(client, "login", signed(wallet, longer)), DETAIL["nonce_expired"]
    )


async def test_a_nonce_is_alive_until_just_before_five_minutes(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    clock.offset = timedelta(minutes=4, seconds=50)
    assert_accepted(await post(client, "login", body), "login")


async def test_failed_checks_do_not_burn_the_nonce(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    body = await create_signed_message(client, wallet)
    nonce = field(body["message"], "Nonce")
    bad_signature = {**body, "signature": Wallet().sign_message(body["message"])}
    assert_refused(await post(client, "login", bad_signature), DETAIL["signature"])
    assert (await post(client, "login", body)).status_code == 404
    assert (await nonce_row(container, nonce))["consumed_at"] is None

    assert_accepted(await post(client, "register", body), "register")
    assert (await nonce_row(container, nonce))["consumed_at"] is not None


async def test_concurrent_logins_with_one_signed_message_admit_exactly_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    responses = await asyncio.gather(*(post(client, "login", body) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 9, [r.text for r in responses]
    for response in responses:
        if response.status_code == 401:
            assert response.json() == {"detail": DETAIL["nonce_used"], "check": "nonce"}
    sessions = await count(
        container,
        "SELECT count(*) FROM auth_sessions WHERE user_id = :u",
        u=uuid.UUID(tokens["user"]["id"]),
    )
    assert sessions == 2  # registration's, plus exactly one login


async def test_concurrent_registrations_with_one_signed_message_admit_exactly_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    body = await create_signed_message(client, wallet)
    responses = await asyncio.gather(
        *(post(client, "register", body) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    # A loser either finds the nonce used (401) or, arriving after the winner
    # committed, the wallet already registered (409); never a second account.
    assert statuses[0] == 201, [r.text for r in responses]
    assert set(statuses[1:]) <= {401, 409}, [r.text for r in responses]
    assert len(statuses) == 5
    users = await count(
        container,
        "SELECT count(*) FROM users WHERE wallet_address = :w",
        w=wallet.address,
    )
    assert users == 1


# --- verify ---------------------------------------------------------------------------


async def test_verify_checks_without_consuming_the_nonce(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    body = await create_signed_message(client, wallet)
    for _ in range(2):
        response = await post(client, "verify", body)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "valid": True,
            "wallet_address": wallet.address,
            "user_exists": False,
        }
    assert_accepted(await post(client, "register", body), "register")


async def test_verify_then_login_with_the_same_signed_message(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    body = await create_signed_message(client, wallet)
    verified = await post(client, "verify", body)
    assert verified.json()["user_exists"] is True
    login = await post(client, "login", body)
    assert login.status_code == 200, login.text
    assert login.json()["user"]["wallet_address"] == wallet.address


# --- register and login ---------------------------------------------------------------


async def test_register_creates_the_account_and_records_every_acceptance(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    documents = (await client.get("/api/legal/documents")).json()
    body = signed(
        wallet,
        (await create_nonce(client, wallet))["message"],
        accepted_document_ids=[d["id"] for d in documents],
    )
    response = await client.post(
        "/api/auth/register", json=body, headers={"User-Agent": "siws-test/1.0"}
    )
    assert response.status_code == 201, response.text
    tokens = response.json()
    assert tokens["user"]["wallet_address"] == wallet.address
    assert tokens["access_token"]
    assert tokens["refresh_token"]

    async with container.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT a.document_id, a.document_version, a.content_sha256,"
                    " a.ip_address, a.user_agent, d.version, d.content_sha256 AS sha"
                    " FROM legal_acceptances a"
                    " JOIN legal_documents d ON d.id = a.document_id"
                    " JOIN users u ON u.id = a.user_id"
                    " WHERE u.wallet_address = :w"
                ),
                {"w": wallet.address},
            )
        ).all()
    assert sorted(str(r.document_id) for r in rows) == sorted(
        d["id"] for d in documents
    )
    for row in rows:
        assert row.document_version == row.version
        assert row.content_sha256 == row.sha
        assert row.ip_address == CLIENT_IP
        assert row.user_agent == "siws-test/1.0"


async def test_register_twice_is_a_conflict(client: httpx.AsyncClient) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    response = await post(
        client, "register", await create_signed_message(client, wallet)
    )
    assert response.status_code == 409, response.text
    assert "already has an account" in response.json()["detail"]


async def test_register_without_every_document_is_400_naming_them_and_keeps_the_nonce(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    documents = (await client.get("/api/legal/documents")).json()
    body = await create_signed_message(client, wallet)
    for accepted in ([], [documents[0]["id"]], [d["id"] for d in documents[:2]]):
        response = await post(
            client, "register", {**body, "accepted_document_ids": accepted}
        )
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        for document in documents:
            named = document["id"] in detail and document["document_type"] in detail
            assert named == (document["id"] not in accepted), detail
    assert (
        await count(
            container,
            "SELECT count(*) FROM users WHERE wallet_address = :w",
            w=wallet.address,
        )
        == 0
    )
    nonce = field(body["message"], "Nonce")
    assert (await nonce_row(container, nonce))["consumed_at"] is None
    assert_accepted(await post(client, "register", body), "register")


async def test_register_accepting_an_unknown_or_archived_document_is_400(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    documents = (await client.get("/api/legal/documents")).json()
    [terms] = [d for d in documents if d["document_type"] == "terms_of_service"]
    await container.legal.publish(
        DocumentType.TERMS_OF_SERVICE, "2.0", "Terms of Service", "New terms."
    )
    active = await active_document_ids(client)
    assert terms["id"] not in active
    unknown = str(uuid.uuid4())
    body = await create_signed_message(client, wallet)
    for extra in (unknown, terms["id"]):
        response = await post(
            client, "register", {**body, "accepted_document_ids": [*active, extra]}
        )
        assert response.status_code == 400, response.text
        assert extra in response.json()["detail"]
    assert_accepted(await post(client, "register", body), "register")


async def test_login_for_an_unknown_wallet_is_404(client: httpx.AsyncClient) -> None:
    response = await post(
        client, "login", await create_signed_message(client, Wallet())
    )
    assert response.status_code == 404, response.text
    assert "register" in response.json()["detail"]


async def test_login_starts_a_session_for_the_account(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    registered = await create_user(client, wallet)
    response = await post(client, "login", await create_signed_message(client, wallet))
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["user"]["id"] == registered["user"]["id"]
    assert tokens["refresh_token"] != registered["refresh_token"]
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["wallet_address"] == wallet.address
