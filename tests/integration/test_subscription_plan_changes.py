"""A period gets the plan its charge paid for, whatever changes meanwhile.

A renewal is held in flight by a network that loses what the renewal job
sends (the recorded charge stays pending until the follower sends it again);
real local chain and PostgreSQL, and the books are checked after every test.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.di.container import Container
from tests.helpers import TestClock, bearer, login
from tests.subscription_helpers import (
    BASIC,
    PRO,
    DroppingChain,
    chain_copy,
    charge_transactions,
    charges,
    check,
    end_of,
    escrow_balance,
    fresh_workers,
    get_subscription,
    move_to,
    subscribe,
    subscribed,
)

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test


async def renewal_in_flight(
    container: Container, clock: TestClock, sub: dict[str, Any]
) -> None:
    """The period ends and the renewal job charges it, but the charge is lost
    on the way: recorded and pending, until the follower sends it again."""
    move_to(clock, end_of(sub))
    _, renewals = fresh_workers(container, clock, chain_copy(container, DroppingChain))
    assert await renewals.run_once() == 1
    assert [t.status for t in await charge_transactions(container)] == [
        "confirmed",
        "pending",
    ]


async def set_scheduled_plan(
    container: Container, sub: dict[str, Any], plan: str | None
) -> None:
    """Behind the API's back, as an operator's SQL (or the old race) would."""
    async with container.engine.begin() as connection:
        changed = await connection.execute(
            text("UPDATE subscriptions SET scheduled_plan = :plan WHERE id = :id"),
            {"plan": plan, "id": sub["id"]},
        )
    assert changed.rowcount == 1


async def settle(container: Container) -> None:
    assert await container.escrow.follower.run_once() == 1  # sends it again


async def test_a_downgrade_while_a_pro_renewal_is_in_flight_is_refused(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "pro", "250")
    await renewal_in_flight(container, clock, sub)
    tokens = await login(client, wallet)

    refused = await subscribe(client, tokens, "basic")
    assert refused.status_code == 409, refused.text
    assert "in flight" in refused.json()["detail"]
    unchanged = await get_subscription(client, tokens, sub["id"])
    assert (unchanged["plan"], unchanged["scheduled_plan"]) == ("pro", None)

    await settle(container)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["plan"], renewed["scheduled_plan"], renewed["status"]) == (
        "pro",
        None,
        "active",
    )
    assert renewed["current_period_start"] == sub["current_period_end"]
    assert (await check(client, tokens))["max_active_strategies"] is None
    assert await escrow_balance(container, wallet) == 250_000_000 - 2 * PRO

    # Renewed, the plan may change again: for the end of the new period.
    scheduled = await subscribe(client, tokens, "basic")
    assert scheduled.status_code == 200, scheduled.text
    assert (scheduled.json()["plan"], scheduled.json()["scheduled_plan"]) == (
        "pro",
        "basic",
    )
    assert [(c.kind, c.plan, int(c.amount)) for c in await charges(container)] == [
        ("initial", "pro", PRO),
        ("renewal", "pro", PRO),
    ]


async def test_settlement_grants_the_charged_plan_not_one_scheduled_after_it(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    """Even a change that bypasses the API (an operator's SQL) cannot turn a
    paid Pro period into a Basic one: it waits for the next renewal."""
    wallet, tokens, sub = await subscribed(client, container, "pro", "250")
    await renewal_in_flight(container, clock, sub)
    await set_scheduled_plan(container, sub, "basic")

    await settle(container)
    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["plan"], renewed["scheduled_plan"]) == ("pro", "basic")
    assert renewed["current_period_start"] == sub["current_period_end"]
    assert await escrow_balance(container, wallet) == 250_000_000 - 2 * PRO

    move_to(clock, end_of(renewed))  # the change made late applies now
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    third = await get_subscription(client, tokens, sub["id"])
    assert (third["plan"], third["scheduled_plan"]) == ("basic", None)
    assert await escrow_balance(container, wallet) == 250_000_000 - 2 * PRO - BASIC


async def test_a_renewal_billed_at_the_scheduled_plan_grants_it_even_if_unscheduled(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "pro", "250")
    assert (await subscribe(client, tokens, "basic")).status_code == 200
    await renewal_in_flight(container, clock, sub)
    tokens = await login(client, wallet)
    resumed = await client.post(
        f"/api/subscriptions/{sub['id']}/resume", headers=bearer(tokens)
    )
    assert resumed.status_code == 409, resumed.text
    await set_scheduled_plan(container, sub, None)  # an undo slipped in late

    await settle(container)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["plan"], renewed["scheduled_plan"]) == ("basic", None)
    assert await escrow_balance(container, wallet) == 250_000_000 - PRO - BASIC
    assert [(c.kind, c.plan, int(c.amount)) for c in await charges(container)] == [
        ("initial", "pro", PRO),
        ("renewal", "basic", BASIC),
    ]


async def test_plan_changes_wait_while_a_period_has_ended_unrenewed(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    pro_wallet, _, pro = await subscribed(client, container, "pro", "250")
    basic_wallet, _, basic = await subscribed(client, container, "basic", "30")
    move_to(clock, max(end_of(pro), end_of(basic)))  # both over; no job has run
    pro_tokens = await login(client, pro_wallet)
    basic_tokens = await login(client, basic_wallet)

    awaiting = await subscribe(client, pro_tokens, "basic")
    assert awaiting.status_code == 409, awaiting.text
    assert "is being renewed" in awaiting.json()["detail"]
    early = await subscribe(client, basic_tokens, "pro")
    assert early.status_code == 409, early.text

    assert await container.renewals.run_once() == 2  # pro renews, basic is short
    overdue = await get_subscription(client, basic_tokens, basic["id"])
    assert (overdue["status"], overdue["plan"]) == ("past_due", "basic")
    refused = await subscribe(client, basic_tokens, "pro")
    assert refused.status_code == 409, refused.text
    assert "overdue" in refused.json()["detail"]
    renewed = await subscribe(client, pro_tokens, "basic")  # may change again
    assert renewed.status_code == 200, renewed.text
    assert (renewed.json()["plan"], renewed.json()["scheduled_plan"]) == (
        "pro",
        "basic",
    )
