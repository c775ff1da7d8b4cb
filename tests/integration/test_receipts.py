"""Receipts: one per confirmed charge, numbered without gaps, the caller's only.

Real local chain, real PostgreSQL; each test starts from an empty receipt
book, so the first receipt is PT-000001.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import uuid
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from pourtier.application.subscription_charges import ChargeSettlement
from pourtier.di.container import Container
from pourtier.domain.money import format_usdc
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI
from tests.helpers import TestClock, bearer, create_user, login
from tests.subscription_helpers import (
    BASIC,
    DAY,
    PRO,
    charge_transactions,
    charges,
    end_of,
    fresh_workers,
    get_subscription,
    lossy_subscriptions,
    move_to,
    revoke_delegate,
    rows,
    subscribe,
    subscribed,
)
from tests.support.escrow import create_funded_escrow

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

RECEIPTS = "/api/subscriptions/receipts"


async def receipts(
    client: httpx.AsyncClient, tokens: dict[str, Any], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(RECEIPTS, params=params, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def receipt_rows(container: Container) -> list[Any]:
    return await rows(
        container, "SELECT sequence, charge_id, kind FROM receipts ORDER BY sequence"
    )


def client_for(container: Container) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=create_app(container, manage_lifespan=False), client=("203.0.113.7", 1)
    )
    return httpx.AsyncClient(transport=transport, base_url=AUTH_URI)


async def test_initial_upgrade_and_renewal_each_get_one_receipt_without_gaps(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "basic", "180")
    clock.offset = 10 * DAY
    tokens = await login(client, wallet)
    upgraded = await subscribe(client, tokens, "pro")
    assert upgraded.status_code == 200, upgraded.text
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])

    move_to(clock, end_of(renewed))  # too little left: the renewal fails
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    assert (await get_subscription(client, tokens, sub["id"]))["status"] == "past_due"
    assert [(c.kind, c.status) for c in await charges(container)][-1] == (
        "renewal",
        "failed",
    )

    found = await receipts(client, tokens)
    assert [r["number"] for r in found] == ["PT-000003", "PT-000002", "PT-000001"]
    assert [(r["kind"], r["plan"]) for r in found] == [
        ("renewal", "pro"),
        ("upgrade", "pro"),
        ("initial", "basic"),
    ]
    paid = {
        c.kind: int(c.amount)
        for c in await charges(container)
        if c.status == "confirmed"
    }
    assert [r["amount"] for r in found] == [
        format_usdc(PRO),
        format_usdc(paid["upgrade"]),
        format_usdc(BASIC),
    ]
    confirmed = [
        t.signature
        for t in await charge_transactions(container)
        if t.status == "confirmed"
    ]
    assert [r["signature"] for r in found] == confirmed[::-1]
    assert found[2]["signature"] == sub["charge_signature"]
    assert found[1]["signature"] == upgraded.json()["charge_signature"]
    assert found[0]["signature"] == renewed["charge_signature"]
    renewal, upgrade, initial = found
    assert (initial["period_start"], initial["period_end"]) == (
        sub["current_period_start"],
        sub["current_period_end"],
    )
    assert upgrade["period_end"] == sub["current_period_end"]
    assert (renewal["period_start"], renewal["period_end"]) == (
        renewed["current_period_start"],
        renewed["current_period_end"],
    )
    assert all(r["subscription_id"] == sub["id"] for r in found)
    assert [r["explorer_url"] for r in found] == [  # the tests' SOLANA_CLUSTER
        f"https://explorer.solana.com/tx/{r['signature']}?cluster=devnet" for r in found
    ]
    assert [row.sequence for row in await receipt_rows(container)] == [1, 2, 3]

    page = await receipts(client, tokens, limit=1, offset=1)
    assert [r["number"] for r in page] == ["PT-000002"]
    one = await client.get(f"{RECEIPTS}/{initial['id']}", headers=bearer(tokens))
    assert one.status_code == 200, one.text
    assert one.json() == initial


async def test_a_charge_that_fails_on_chain_gets_no_receipt(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    lossy = lossy_subscriptions(container, 0.1)
    async with client_for(dataclasses.replace(container, subscriptions=lossy)) as c:
        pending = await subscribe(c, tokens, "basic", key="k")
        assert pending.status_code == 202
        await revoke_delegate(container, wallet)  # before the charge lands
        await container.escrow.follower.run_once()
        failed = await subscribe(c, tokens, "basic", key="k")
    assert failed.status_code == 402, failed.text
    assert [(c.kind, c.status) for c in await charges(container)] == [
        ("initial", "failed")
    ]
    assert await receipts(client, tokens) == []
    assert await receipt_rows(container) == []
    assert await rows(container, "SELECT * FROM receipt_counters") == []


async def test_settled_by_two_followers_and_again_one_receipt(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    lossy = lossy_subscriptions(container, 0.1)
    async with client_for(dataclasses.replace(container, subscriptions=lossy)) as c:
        pending = await subscribe(c, tokens, "basic", key="k")
    assert pending.status_code == 202, pending.text

    followers = [fresh_workers(container, clock)[0] for _ in range(2)]
    for _ in range(20):  # both send it again, see it land and settle it
        await asyncio.gather(*(f.run_once() for f in followers))
        if (await charges(container))[0].status != "pending":
            break
    assert [c.status for c in await charges(container)] == ["confirmed"]

    # A retry of the settlement (a follower that read the old state) adds nothing.
    (transaction_id,) = await rows(
        container,
        "SELECT id FROM escrow_transactions WHERE type = 'subscription_charge'",
    )
    settle = ChargeSettlement(clock=clock, plans=container.renewals.plans)
    for _ in range(2):
        async with container.renewals.uow() as uow:
            transaction = await uow.escrow.get(transaction_id[0])
            assert transaction is not None
            await settle(uow, transaction)
            await uow.commit()

    assert [r.sequence for r in await receipt_rows(container)] == [1]
    assert await rows(container, "SELECT last_sequence FROM receipt_counters") == [(1,)]
    (only,) = await receipts(client, tokens)
    assert only["number"] == "PT-000001"
    assert only["signature"] == pending.json()["charge_signature"]


async def test_another_users_receipt_answers_404_like_an_unknown_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, owner, _ = await subscribed(client, container, "basic", "100")
    (theirs,) = await receipts(client, owner)
    intruder = await create_user(client)
    assert await receipts(client, intruder) == []
    for suffix in ("", ".pdf"):
        mine = await client.get(
            f"{RECEIPTS}/{theirs['id']}{suffix}", headers=bearer(owner)
        )
        assert mine.status_code == 200
        stolen = await client.get(
            f"{RECEIPTS}/{theirs['id']}{suffix}", headers=bearer(intruder)
        )
        unknown = await client.get(
            f"{RECEIPTS}/{uuid.uuid4()}{suffix}", headers=bearer(intruder)
        )
        assert stolen.status_code == unknown.status_code == 404, stolen.text
        assert stolen.json() == unknown.json()
        assert theirs["number"] not in stolen.text


async def test_receipt_routes_are_matched_before_the_subscription_id_route(
    client: httpx.AsyncClient, container: Container
) -> None:
    """`/receipts` is not taken for a subscription id, nor `<id>.pdf` for a
    receipt id: each answers itself, not a 422 of the wrong route."""
    tokens = await create_user(client)
    listed = await client.get(RECEIPTS, headers=bearer(tokens))
    assert (listed.status_code, listed.json()) == (200, [])
    missing = await client.get(f"{RECEIPTS}/{uuid.uuid4()}.pdf", headers=bearer(tokens))
    assert missing.status_code == 404, missing.text
    assert missing.json() == {"detail": "receipt not found"}
    anonymous = await client.get(RECEIPTS)
    assert anonymous.status_code == 401


async def test_the_pdf_is_one_page_with_the_receipts_facts(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens, sub = await subscribed(client, container, "pro", "150")
    (receipt,) = await receipts(client, tokens)
    response = await client.get(
        f"{RECEIPTS}/{receipt['id']}.pdf", headers=bearer(tokens)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        'attachment; filename="receipt-PT-000001.pdf"'
    )
    document = response.content
    assert document.startswith(b"%PDF-")
    assert document.rstrip().endswith(b"%%EOF")

    reader = PdfReader(io.BytesIO(document))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Pourtier" in text
    assert "PT-000001" in text
    assert f"{format_usdc(PRO)} USDC" in text
    assert "pro" in text
    assert sub["charge_signature"] in text.replace("\n", "")
    assert sub["current_period_start"][:10] in text
    assert sub["current_period_end"][:10] in text
    assert receipt["explorer_url"] in text.replace("\n", "")
