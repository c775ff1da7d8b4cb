"""The escrow over HTTP, on the local chain, with real keypairs and signatures."""

from __future__ import annotations

import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from solders.keypair import Keypair
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.legal import DocumentType
from pourtier.infrastructure.solana.escrow_chain import escrow_address
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import TestClock, bearer, create_user
from tests.support.escrow import (
    assert_ledger_matches_chain,
    create_funded_escrow,
    escrow_round_trip,
    funded_user,
    initialize_escrow,
)

PRO_YEAR = "1199.880000"  # twelve months of the default Pro price, 99.99


async def prepare(
    client: httpx.AsyncClient, tokens: dict[str, Any], path: str, **body: str
) -> httpx.Response:
    return await client.post(f"/api/escrow/{path}", json=body, headers=bearer(tokens))


async def submit(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    transaction_id: str,
    signed_transaction: str,
) -> httpx.Response:
    return await client.post(
        "/api/escrow/submit",
        json={
            "transaction_id": transaction_id,
            "signed_transaction": signed_transaction,
        },
        headers=bearer(tokens),
    )


async def balance(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/escrow/balance", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_initialize_prepares_one_unsigned_transaction_paid_by_the_wallet(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    response = await prepare(client, tokens, "initialize")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "transaction_id",
        "transaction",
        "escrow_account",
        "expires_at",
    }
    expected_escrow = str(escrow_address(wallet.keypair.pubkey()))
    assert body["escrow_account"] == expected_escrow
    transaction = Transaction.from_bytes(base64.b64decode(body["transaction"]))
    message = transaction.message
    assert message.account_keys[0] == wallet.keypair.pubkey()  # the fee payer
    assert message.header.num_required_signatures == 1
    assert not transaction.is_signed()
    programs = [message.account_keys[i.program_id_index] for i in message.instructions]
    # Top up to rent exemption, allocate + assign with the seed, initialize,
    # approve: no create_account, which any lamports at the address would fail.
    system, token = SYSTEM_PROGRAM_ID, TOKEN_PROGRAM_ID
    assert programs == [system, system, token, token]
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = container.settings.PREPARED_TRANSACTION_TTL_SECONDS
    assert abs((expires - datetime.now(UTC)).total_seconds() - ttl) < 10


async def test_initialized_escrow_shows_the_default_allowance_and_no_funds(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await funded_user(client, "5")
    before = await balance(client, tokens)
    assert before["is_initialized"] is False
    assert before["balance"] == "0.000000"
    done = await initialize_escrow(client, container, tokens, wallet)
    assert done["type"] == "initialize"
    assert done["signature"]
    assert done["confirmed_at"] is not None
    after = await balance(client, tokens)
    assert after["is_initialized"] is True
    assert after["balance"] == "0.000000"
    assert after["allowance_remaining"] == PRO_YEAR
    assert after["token_mint"] == container.chain.usdc_mint
    assert after["escrow_account"] == before["escrow_account"]
    state = await container.chain.escrow_state(wallet.address)
    assert state.delegate == container.chain.fee_authority


async def test_initialize_with_a_chosen_allowance_and_twice_is_a_conflict(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(
        client, container, deposit=None, faucet="1", allowance="50.5"
    )
    assert (await balance(client, tokens))["allowance_remaining"] == "50.500000"
    again = await prepare(client, tokens, "initialize")
    assert again.status_code == 409
    assert "already initialized" in again.json()["detail"]


async def test_deposit_and_withdraw_before_initialize_are_refused_clearly(
    client: httpx.AsyncClient,
) -> None:
    _, tokens = await funded_user(client, "10")
    for path in ("deposit", "withdraw"):
        response = await prepare(client, tokens, path, amount="1")
        assert response.status_code == 409
        assert "initialize" in response.json()["detail"]


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        ("1.0000001", "more than 6 decimals"),
        ("0", "greater than zero"),
        ("0.000000", "greater than zero"),
        ("-5", "greater than zero"),
        ("abc", "decimal"),
        ("1e3", "decimal"),
        ("NaN", "decimal"),
    ],
)
async def test_bad_amounts_are_400(
    client: httpx.AsyncClient, amount: str, fragment: str
) -> None:
    tokens = await create_user(client)
    for path in ("deposit", "withdraw"):
        response = await prepare(client, tokens, path, amount=amount)
        assert response.status_code == 400, response.text
        assert fragment in response.json()["detail"]
    allowance = await prepare(client, tokens, "initialize", allowance=amount)
    assert allowance.status_code == 400
    assert "allowance" in allowance.json()["detail"]


async def test_amounts_must_be_strings(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    response = await client.post(
        "/api/escrow/deposit", json={"amount": 1.5}, headers=bearer(tokens)
    )
    assert response.status_code == 422


async def test_deposit_withdraw_history_and_balance_follow_the_chain(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100.25")
    assert (await balance(client, tokens))["balance"] == "100.250000"
    assert await container.chain.wallet_usdc_balance(wallet.address) == 899_750_000
    withdrawn = await escrow_round_trip(
        client,
        container,
        tokens,
        wallet,
        "/api/escrow/withdraw",
        {"amount": "40.000001"},
    )
    assert withdrawn["status"] == "confirmed"
    assert withdrawn["amount"] == "40.000001"
    assert (await balance(client, tokens))["balance"] == "60.249999"
    assert await container.chain.wallet_usdc_balance(wallet.address) == 939_750_001
    assert await assert_ledger_matches_chain(container, wallet) == 60_249_999

    history = await client.get("/api/escrow/transactions", headers=bearer(tokens))
    assert history.status_code == 200
    assert [t["type"] for t in history.json()] == ["withdraw", "deposit", "initialize"]
    assert all(t["status"] == "confirmed" for t in history.json())
    assert history.json()[1]["amount"] == "100.250000"
    only = await client.get(
        "/api/escrow/transactions",
        params={"type": "deposit"},
        headers=bearer(tokens),
    )
    assert [t["type"] for t in only.json()] == ["deposit"]
    page = await client.get(
        "/api/escrow/transactions",
        params={"limit": 1, "offset": 1},
        headers=bearer(tokens),
    )
    assert [t["type"] for t in page.json()] == ["deposit"]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"type": "gift"}):
        refused = await client.get(
            "/api/escrow/transactions", params=bad, headers=bearer(tokens)
        )
        assert refused.status_code == 422, bad


async def test_more_than_the_wallet_or_the_escrow_holds_is_400(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="30", faucet="50")
    deposit = await prepare(client, tokens, "deposit", amount="20.000001")
    assert deposit.status_code == 400
    assert "wallet's USDC balance (20.000000)" in deposit.json()["detail"]
    withdraw = await prepare(client, tokens, "withdraw", amount="30.000001")
    assert withdraw.status_code == 400
    assert "available balance (30.000000)" in withdraw.json()["detail"]
    assert (await prepare(client, tokens, "withdraw", amount="30")).status_code == 200


async def test_withdrawals_in_flight_are_not_spendable(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="30")
    first = await prepare(client, tokens, "withdraw", amount="20")
    signed = wallet.sign_transaction(first.json()["transaction"])
    # Recorded as pending but not yet sent: the chain still shows 30.
    user_id = uuid.UUID(tokens["user"]["id"])
    await container.escrow.accept_signed(
        user_id, uuid.UUID(first.json()["transaction_id"]), base64.b64decode(signed)
    )
    assert (await balance(client, tokens))["balance"] == "30.000000"
    second = await prepare(client, tokens, "withdraw", amount="10.000001")
    assert second.status_code == 400
    assert "(10.000000)" in second.json()["detail"]
    assert (await prepare(client, tokens, "withdraw", amount="10")).status_code == 200


async def test_submit_answers_202_pending_and_again_the_same(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    prepared = await prepare(client, tokens, "deposit", amount="7")
    signed = wallet.sign_transaction(prepared.json()["transaction"])
    first = await submit(client, tokens, prepared.json()["transaction_id"], signed)
    assert first.status_code == 202, first.text
    assert first.json() == {
        "transaction_id": prepared.json()["transaction_id"],
        "signature": str(
            Transaction.from_bytes(base64.b64decode(signed)).signatures[0]
        ),
        "status": "pending",
    }
    again = await submit(client, tokens, prepared.json()["transaction_id"], signed)
    assert again.status_code == 202
    assert again.json() == first.json()
    await container.escrow.follower.run_once()
    later = await submit(client, tokens, prepared.json()["transaction_id"], signed)
    assert later.json() == {**first.json(), "status": "confirmed"}
    assert (await balance(client, tokens))["balance"] == "7.000000"
    assert await assert_ledger_matches_chain(container, wallet) == 7_000_000


async def test_tampered_or_wrongly_signed_transactions_are_400(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    prepared = (await prepare(client, tokens, "deposit", amount="5")).json()
    other = (await prepare(client, tokens, "deposit", amount="6")).json()
    unsigned = Transaction.from_bytes(base64.b64decode(prepared["transaction"]))
    impostor = Keypair()
    forged = Transaction.populate(
        unsigned.message, [impostor.sign_message(bytes(unsigned.message))]
    )
    good = base64.b64decode(wallet.sign_transaction(prepared["transaction"]))
    cases = {
        "another prepared message": wallet.sign_transaction(other["transaction"]),
        "bytes appended": base64.b64encode(good + b"\x00").decode(),
        "signed by another key": base64.b64encode(bytes(forged)).decode(),
        "unsigned": prepared["transaction"],
        "not a transaction": base64.b64encode(b"\x01" * 100).decode(),
        "not base64": "%%% not base64 %%%",
    }
    for case, signed in cases.items():
        response = await submit(client, tokens, prepared["transaction_id"], signed)
        assert response.status_code == 400, (case, response.text)
    found = await client.get(
        f"/api/escrow/transactions/{prepared['transaction_id']}",
        headers=bearer(tokens),
    )
    assert found.json()["status"] == "prepared"
    assert found.json()["signature"] is None


async def test_another_users_transaction_is_404(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    prepared = (await prepare(client, tokens, "deposit", amount="5")).json()
    signed = wallet.sign_transaction(prepared["transaction"])
    intruder = await create_user(client)
    path = f"/api/escrow/transactions/{prepared['transaction_id']}"
    assert (await client.get(path, headers=bearer(intruder))).status_code == 404
    stolen = await submit(client, intruder, prepared["transaction_id"], signed)
    assert stolen.status_code == 404
    unknown = await submit(client, tokens, str(uuid.uuid4()), signed)
    assert unknown.status_code == 404
    listed = await client.get("/api/escrow/transactions", headers=bearer(intruder))
    assert listed.json() == []
    assert (await client.get(path, headers=bearer(tokens))).status_code == 200


async def test_an_expired_prepared_transaction_is_refused_and_marked(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    prepared = (await prepare(client, tokens, "deposit", amount="5")).json()
    signed = wallet.sign_transaction(prepared["transaction"])
    ttl = container.settings.PREPARED_TRANSACTION_TTL_SECONDS
    clock.offset = timedelta(seconds=ttl + 1)
    response = await submit(client, tokens, prepared["transaction_id"], signed)
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    found = await client.get(
        f"/api/escrow/transactions/{prepared['transaction_id']}",
        headers=bearer(tokens),
    )
    assert found.json()["status"] == "expired"
    assert (await balance(client, tokens))["balance"] == "0.000000"
    assert await container.chain.wallet_usdc_balance(wallet.address) == 1000 * 10**6


async def test_the_follower_expires_prepared_transactions_nobody_submitted(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    stale = (await prepare(client, tokens, "deposit", amount="1")).json()
    clock.offset = timedelta(
        seconds=container.settings.PREPARED_TRANSACTION_TTL_SECONDS
    )
    fresh = (await prepare(client, tokens, "deposit", amount="2")).json()
    assert await container.escrow.follower.run_once() == 1
    statuses = {
        t["id"]: t["status"]
        for t in (
            await client.get("/api/escrow/transactions", headers=bearer(tokens))
        ).json()
    }
    assert statuses[stale["transaction_id"]] == "expired"
    assert statuses[fresh["transaction_id"]] == "prepared"
    late = await submit(
        client,
        tokens,
        stale["transaction_id"],
        wallet.sign_transaction(stale["transaction"]),
    )
    assert late.status_code == 400
    assert "expired" in late.json()["detail"]


async def test_escrow_sits_behind_sign_in_and_the_legal_gate(
    client: httpx.AsyncClient, container: Container
) -> None:
    assert (await client.get("/api/escrow/balance")).status_code == 401
    tokens = await create_user(client)
    assert (await client.get("/api/escrow/balance", headers=bearer(tokens))).is_success
    await container.legal.publish(
        DocumentType.TERMS_OF_SERVICE, "2.0", "Terms of Service", "New terms."
    )
    for method, path in (
        ("GET", "/api/escrow/balance"),
        ("GET", "/api/escrow/transactions"),
        ("POST", "/api/escrow/deposit"),
        ("POST", "/api/escrow/submit"),
    ):
        response = await client.request(
            method, path, json={"amount": "1"}, headers=bearer(tokens)
        )
        assert response.status_code == 403, (path, response.text)
        assert response.json()["pending_documents"][0]["version"] == "2.0"


async def test_the_dev_faucet_funds_a_wallet(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    response = await client.post(
        "/api/dev/faucet", json={"wallet_address": wallet.address, "amount": "12.5"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["usdc_balance"] == "12.500000"
    again = await client.post(
        "/api/dev/faucet", json={"wallet_address": wallet.address, "amount": "0.5"}
    )
    assert again.json()["usdc_balance"] == "13.000000"
    assert await container.chain.wallet_usdc_balance(wallet.address) == 13_000_000
    assert container.local_chain is not None
    lamports = container.local_chain.node.svm.get_balance(wallet.keypair.pubkey())
    assert lamports == 2 * 10**9  # every airdrop lands, equal ones too
    too_much = await client.post(
        "/api/dev/faucet",
        json={"wallet_address": wallet.address, "amount": str(Decimal(10**7))},
    )
    assert too_much.status_code == 400


async def test_the_dev_faucet_does_not_exist_in_production(
    database_url: str, tmp_path: Path, container: Container
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        ENV="production",
        FEE_AUTHORITY_KEYPAIR=str(Keypair()),
        SOLANA_RPC_URL="http://127.0.0.1:9",
        USDC_MINT=str(Keypair().pubkey()),
        TREASURY_TOKEN_ACCOUNT=str(Keypair().pubkey()),
        KYC_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    production = build_test_container(settings)
    without_local = dataclasses.replace(container, faucet=None)
    try:
        for built in (production, without_local):
            app = create_app(built, manage_lifespan=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as c:
                response = await c.post(
                    "/api/dev/faucet",
                    json={"wallet_address": Wallet().address, "amount": "1"},
                )
            assert response.status_code == 404
    finally:
        await production.stop()


async def test_two_identical_prepared_transactions_land_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Same instructions and blockhash make one transaction: the chain runs it once."""
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    first = (await prepare(client, tokens, "deposit", amount="5")).json()
    twin = (await prepare(client, tokens, "deposit", amount="5")).json()
    assert twin["transaction"] == first["transaction"]
    signed = wallet.sign_transaction(first["transaction"])
    accepted = await submit(client, tokens, first["transaction_id"], signed)
    assert accepted.status_code == 202
    refused = await submit(client, tokens, twin["transaction_id"], signed)
    assert refused.status_code == 409
    assert first["transaction_id"] in refused.json()["detail"]
    await container.escrow.follower.run_once()
    assert await assert_ledger_matches_chain(container, wallet) == 5_000_000


async def test_a_second_initialize_while_one_is_in_flight_is_a_conflict(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await funded_user(client, "1")
    first = (await prepare(client, tokens, "initialize")).json()
    await container.escrow.accept_signed(
        uuid.UUID(tokens["user"]["id"]),
        uuid.UUID(first["transaction_id"]),
        base64.b64decode(wallet.sign_transaction(first["transaction"])),
    )
    again = await prepare(client, tokens, "initialize")
    assert again.status_code == 409
    assert "pending" in again.json()["detail"]
