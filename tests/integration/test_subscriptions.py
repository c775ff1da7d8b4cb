"""Subscriptions over HTTP, paid from a real escrow on the local chain.

After every test the books are checked: each escrow on chain equals its
ledger, and the treasury received exactly the confirmed charges.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from solders.signature import Signature

from pourtier.di.container import Container
from pourtier.domain.escrow import Commitment
from pourtier.domain.legal import DocumentType
from pourtier.domain.subscriptions import PlanName, default_plans, prorated_upgrade
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import TestClock, bearer, create_user, login
from tests.subscription_helpers import (
    BASIC,
    DAY,
    PRO,
    charge_transactions,
    charges,
    check,
    escrow_balance,
    get_subscription,
    lossy_subscriptions,
    revoke_delegate,
    rows,
    subscribe,
    treasury_balance,
)
from tests.support.escrow import create_funded_escrow

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

PLANS = default_plans(BASIC, PRO)
FIELDS = {
    "id",
    "plan",
    "status",
    "current_period_start",
    "current_period_end",
    "auto_renew",
    "cancel_at_period_end",
    "scheduled_plan",
    "canceled_at",
    "created_at",
    "updated_at",
    "charge_signature",
}


async def client_for(container: Container) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=create_app(container, manage_lifespan=False), client=("203.0.113.7", 1)
    )
    return httpx.AsyncClient(transport=transport, base_url=AUTH_URI)


# --- plans and the gate -------------------------------------------------------


async def test_plans_are_public_with_prices_in_usdc_and_a_30_day_period(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/subscriptions/plans")
    assert response.status_code == 200
    assert response.json() == [
        {
            "name": "basic",
            "price": "29.990000",
            "period_days": 30,
            "max_active_strategies": 1,
            "features": ["strategy_deployment", "basic_analytics"],
        },
        {
            "name": "pro",
            "price": "99.990000",
            "period_days": 30,
            "max_active_strategies": None,
            "features": [
                "strategy_deployment",
                "basic_analytics",
                "unlimited_strategies",
                "advanced_analytics",
                "priority_execution",
            ],
        },
    ]


async def test_plan_prices_come_from_settings(
    database_url: str, tmp_path: Path, clock: TestClock
) -> None:
    settings = make_settings(
        database_url, tmp_path, BASIC_PRICE_USDC="10", PRO_PRICE_USDC="25.5"
    )
    other = build_test_container(settings, clock=clock)
    try:
        async with await client_for(other) as client:
            prices = (await client.get("/api/subscriptions/plans")).json()
        assert [p["price"] for p in prices] == ["10.000000", "25.500000"]
        assert [p.price for p in other.renewals.plans.values()] == [
            10_000_000,
            25_500_000,
        ]
    finally:
        await other.stop()


async def test_everything_but_the_plans_sits_behind_sign_in_and_the_legal_gate(
    client: httpx.AsyncClient, container: Container
) -> None:
    some_id = uuid.uuid4()
    calls = [
        ("POST", "/api/subscriptions/"),
        ("GET", "/api/subscriptions/"),
        ("GET", "/api/subscriptions/check"),
        ("GET", f"/api/subscriptions/{some_id}"),
        ("DELETE", f"/api/subscriptions/{some_id}"),
        ("POST", f"/api/subscriptions/{some_id}/resume"),
    ]
    for method, path in calls:
        response = await client.request(method, path, json={"plan": "basic"})
        assert response.status_code == 401, (method, path)
    tokens = await create_user(client)
    await container.legal.publish(DocumentType.TERMS_OF_SERVICE, "2.0", "ToS", "new")
    for method, path in calls:
        response = await client.request(
            method, path, json={"plan": "basic"}, headers=bearer(tokens)
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["pending_documents"][0]["version"] == "2.0"
    assert (await client.get("/api/subscriptions/plans")).status_code == 200


# --- subscribing ----------------------------------------------------------------


async def test_subscribe_charges_the_escrow_on_chain_and_answers_201(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    treasury = await treasury_balance(container)

    response = await subscribe(client, tokens, "basic", auto_renew=False)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == FIELDS
    assert body["plan"] == "basic"
    assert body["status"] == "active"
    assert body["auto_renew"] is False
    assert body["cancel_at_period_end"] is False
    start = datetime.fromisoformat(body["current_period_start"])
    end = datetime.fromisoformat(body["current_period_end"])
    assert end - start == 30 * DAY
    state = await container.chain.signature_state(body["charge_signature"])
    assert state.commitment is Commitment.FINALIZED
    Signature.from_string(body["charge_signature"])
    assert await escrow_balance(container, wallet) == 100_000_000 - BASIC
    assert await treasury_balance(container) - treasury == BASIC
    assert [(c.kind, c.status, int(c.amount)) for c in await charges(container)] == [
        ("initial", "confirmed", BASIC)
    ]
    assert await get_subscription(client, tokens, body["id"]) == body
    listed = await client.get("/api/subscriptions/", headers=bearer(tokens))
    assert listed.json() == [body]
    access = await check(client, tokens)
    assert access == {
        "has_access": True,
        "plan": "basic",
        "status": "active",
        "expires_at": body["current_period_end"],  # not renewing: no grace
        "max_active_strategies": 1,
        "features": ["strategy_deployment", "basic_analytics"],
    }


async def test_check_without_a_subscription_grants_nothing(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    assert await check(client, tokens) == {
        "has_access": False,
        "plan": None,
        "status": None,
        "expires_at": None,
        "max_active_strategies": 0,
        "features": [],
    }


async def test_402_when_the_balance_is_short_and_nothing_is_charged(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="20")
    response = await subscribe(client, tokens, "basic")
    assert response.status_code == 402, response.text
    detail = response.json()["detail"]
    assert "29.990000 USDC" in detail
    assert "deposit at least 9.990000 USDC" in detail
    assert await charges(container) == []
    assert await rows(container, "SELECT id FROM subscriptions") == []
    assert await escrow_balance(container, wallet) == 20_000_000


async def test_402_when_the_allowance_is_short(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(
        client, container, deposit="300", faucet="500", allowance="50"
    )
    assert (await subscribe(client, tokens, "basic")).status_code == 201
    response = await subscribe(client, tokens, "pro")  # upgrade: ~70 > 20 left
    assert response.status_code == 402, response.text
    assert (
        "allowance left for the fee authority is 20.010000 USDC"
        in (response.json()["detail"])
    )


async def test_402_without_an_escrow(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    response = await subscribe(client, tokens, "pro")
    assert response.status_code == 402
    assert "no escrow yet" in response.json()["detail"]


async def test_409_when_the_same_plan_is_already_active(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    assert (await subscribe(client, tokens, "basic")).status_code == 201
    again = await subscribe(client, tokens, "basic")
    assert again.status_code == 409
    assert "already have an active basic subscription" in again.json()["detail"]
    assert len(await charges(container)) == 1


async def test_an_idempotency_key_replays_the_first_answer_without_charging_again(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    first = await subscribe(client, tokens, "basic", key="order-1")
    again = await subscribe(client, tokens, "basic", key="order-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    concurrent = await asyncio.gather(
        *(subscribe(client, tokens, "basic", key="order-1") for _ in range(10))
    )
    assert {r.status_code for r in concurrent} == {201}
    assert all(r.json() == first.json() for r in concurrent)
    assert len(await charge_transactions(container)) == 1
    assert await escrow_balance(container, wallet) == 100_000_000 - BASIC

    other = await subscribe(client, tokens, "pro", key="order-1")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    bad = await subscribe(client, tokens, "pro", key="x" * 129)
    assert bad.status_code == 422


async def test_concurrent_idempotent_first_requests_charge_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    answers = await asyncio.gather(
        *(subscribe(client, tokens, "pro", key="k") for _ in range(10))
    )
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["charge_signature"] for r in answers}) == 1
    assert len(await charge_transactions(container)) == 1


async def test_fifty_concurrent_subscribes_covered_once_charge_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="40")
    treasury = await treasury_balance(container)

    answers = await asyncio.gather(
        *(subscribe(client, tokens, "basic") for _ in range(50))
    )

    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 1, codes
    assert set(codes) <= {201, 402, 409}
    assert await treasury_balance(container) - treasury == BASIC
    assert await escrow_balance(container, wallet) == 40_000_000 - BASIC
    assert [
        (t.status, int(t.amount)) for t in await charge_transactions(container)
    ] == [("confirmed", BASIC)]
    assert len(await charges(container)) == 1
    assert len(await rows(container, "SELECT id FROM subscriptions")) == 1


async def test_a_charge_still_in_flight_answers_202_and_the_follower_finishes_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    lossy = lossy_subscriptions(container, 0.3)
    async with await client_for(
        dataclasses.replace(container, subscriptions=lossy)
    ) as lossy_client:
        pending = await subscribe(lossy_client, tokens, "pro", key="slow")
        assert pending.status_code == 202, pending.text
        assert pending.json()["status"] == "pending"
        assert (await check(client, tokens))["has_access"] is False
        blocked = await subscribe(client, tokens, "basic")
        assert blocked.status_code == 409

        assert await container.escrow.follower.run_once() == 1  # sends it again
        replay = await subscribe(lossy_client, tokens, "pro", key="slow")
    assert replay.status_code == 201, replay.text
    assert replay.json()["status"] == "active"
    assert replay.json()["charge_signature"] == pending.json()["charge_signature"]
    assert (await check(client, tokens))["plan"] == "pro"
    assert len(await charge_transactions(container)) == 1


async def test_a_charge_that_fails_on_chain_answers_402_and_takes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    lossy = lossy_subscriptions(container, 0.1)
    async with await client_for(
        dataclasses.replace(container, subscriptions=lossy)
    ) as lossy_client:
        pending = await subscribe(lossy_client, tokens, "basic", key="k")
        assert pending.status_code == 202
        await revoke_delegate(container, wallet)  # before the charge lands
        await container.escrow.follower.run_once()
        failed = await subscribe(lossy_client, tokens, "basic", key="k")
    assert failed.status_code == 402, failed.text
    assert "did not go through on chain" in failed.json()["detail"]
    assert failed.json()["subscription"]["status"] == "expired"
    assert await escrow_balance(container, wallet) == 100_000_000
    assert [(c.kind, c.status) for c in await charges(container)] == [
        ("initial", "failed")
    ]
    assert (await check(client, tokens))["has_access"] is False


# --- changing plan ----------------------------------------------------------------


async def test_upgrade_charges_the_prorated_difference_now(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="200")
    basic = (await subscribe(client, tokens, "basic")).json()
    start = datetime.fromisoformat(basic["current_period_start"])
    end = datetime.fromisoformat(basic["current_period_end"])
    clock.offset = 10 * DAY
    tokens = await login(client, wallet)

    earliest = clock()
    response = await subscribe(client, tokens, "pro")
    latest = clock()

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["plan"], body["status"]) == (basic["id"], "pro", "active")
    assert body["current_period_end"] == basic["current_period_end"]
    assert body["charge_signature"] != basic["charge_signature"]
    upgrade = [c for c in await charges(container) if c.kind == "upgrade"]
    assert [(c.status, c.attempts) for c in upgrade] == [("confirmed", 1)]
    paid = int(upgrade[0].amount)
    basic_plan, pro_plan = PLANS[PlanName.BASIC], PLANS[PlanName.PRO]
    most = prorated_upgrade(basic_plan, pro_plan, start, end, earliest)
    least = prorated_upgrade(basic_plan, pro_plan, start, end, latest)
    assert least <= paid <= most
    # About two thirds of the difference: exactly, but for the real time the
    # requests took since the basic period began (seconds on a loaded machine).
    took = (latest - 10 * DAY - start) / (end - start)
    assert abs(paid - (PRO - BASIC) * 2 // 3) < 10 + (PRO - BASIC) * took
    assert await escrow_balance(container, wallet) == 200_000_000 - BASIC - paid
    access = await check(client, tokens)
    assert (access["plan"], access["max_active_strategies"]) == ("pro", None)
    assert "unlimited_strategies" in access["features"]
    assert (await subscribe(client, tokens, "pro")).status_code == 409


async def test_downgrade_is_scheduled_for_the_period_end_without_a_charge(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="200")
    pro = (await subscribe(client, tokens, "pro")).json()
    response = await subscribe(client, tokens, "basic", key="down")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["plan"], body["scheduled_plan"]) == ("pro", "basic")
    assert body["current_period_end"] == pro["current_period_end"]
    assert (await subscribe(client, tokens, "basic", key="down")).json() == body
    assert (await subscribe(client, tokens, "basic")).status_code == 409
    assert (await check(client, tokens))["plan"] == "pro"
    assert await escrow_balance(container, wallet) == 200_000_000 - PRO
    again_pro = await subscribe(client, tokens, "pro")
    assert again_pro.status_code == 409
    assert "resume" in again_pro.json()["detail"]
    resumed = await client.post(
        f"/api/subscriptions/{body['id']}/resume", headers=bearer(tokens)
    )
    assert resumed.json()["scheduled_plan"] is None


# --- cancelling -------------------------------------------------------------------


async def test_cancel_at_period_end_keeps_access_until_then_and_can_be_undone(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    sub = (await subscribe(client, tokens, "basic")).json()
    path = f"/api/subscriptions/{sub['id']}"

    canceled = await client.delete(path, headers=bearer(tokens))
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["cancel_at_period_end"] is True
    assert canceled.json()["status"] == "active"
    assert canceled.json()["canceled_at"] is not None
    access = await check(client, tokens)
    assert access["has_access"] is True
    assert access["expires_at"] == sub["current_period_end"]  # no grace

    resumed = await client.post(f"{path}/resume", headers=bearer(tokens))
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False
    assert resumed.json()["canceled_at"] is None
    nothing = await client.post(f"{path}/resume", headers=bearer(tokens))
    assert nothing.status_code == 409

    assert (await client.delete(path, headers=bearer(tokens))).status_code == 200
    clock.offset = 30 * DAY + timedelta(minutes=1)
    tokens = await login(client, wallet)
    assert (await check(client, tokens))["has_access"] is False  # before any job
    late = await client.post(f"{path}/resume", headers=bearer(tokens))
    assert late.status_code == 409
    assert await container.renewals.run_once() == 1
    assert (await get_subscription(client, tokens, sub["id"]))["status"] == "canceled"
    assert len(await charges(container)) == 1  # never renewed


async def test_cancel_immediately_ends_access_now_without_refund(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="200")
    sub = (await subscribe(client, tokens, "pro")).json()
    response = await client.delete(
        f"/api/subscriptions/{sub['id']}",
        params={"immediately": "true"},
        headers=bearer(tokens),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    assert (await check(client, tokens))["has_access"] is False
    assert await escrow_balance(container, wallet) == 200_000_000 - PRO
    again = await client.delete(
        f"/api/subscriptions/{sub['id']}", headers=bearer(tokens)
    )
    assert again.status_code == 409
    filtered = await client.get(
        "/api/subscriptions/", params={"status": "canceled"}, headers=bearer(tokens)
    )
    assert [s["id"] for s in filtered.json()] == [sub["id"]]
    active = await client.get(
        "/api/subscriptions/", params={"status": "active"}, headers=bearer(tokens)
    )
    assert active.json() == []
    # A new subscription may start at once.
    assert (await subscribe(client, tokens, "basic")).status_code == 201


async def test_another_users_subscription_is_not_found(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, owner = await create_funded_escrow(client, container, deposit="100")
    sub = (await subscribe(client, owner, "basic")).json()
    stranger = await create_user(client)
    path = f"/api/subscriptions/{sub['id']}"
    for response in (
        await client.get(path, headers=bearer(stranger)),
        await client.delete(path, headers=bearer(stranger)),
        await client.post(f"{path}/resume", headers=bearer(stranger)),
        await client.get(f"/api/subscriptions/{uuid.uuid4()}", headers=bearer(owner)),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "subscription not found"}
    assert (
        await client.get("/api/subscriptions/", headers=bearer(stranger))
    ).json() == []
    assert (await get_subscription(client, owner, sub["id"]))["status"] == "active"


def queries(container: Container) -> float:
    value = container.metrics.registry.get_sample_value("pourtier_db_queries_total")
    assert value is not None
    return value


async def test_check_costs_one_query_beyond_sign_in_and_the_gate(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    await subscribe(client, tokens, "basic")
    before = queries(container)
    await check(client, tokens)
    checked = queries(container) - before
    before = queries(container)
    compliance = await client.get("/api/legal/compliance", headers=bearer(tokens))
    assert compliance.status_code == 200
    assert checked - (queries(container) - before) == 1
