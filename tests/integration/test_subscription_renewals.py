"""Renewals: the clock moves, the job charges, funds run out, workers crash.

Real local chain and keypairs, real PostgreSQL; after every test each escrow
on chain equals its ledger and the treasury received exactly the confirmed
charges.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pourtier.di.container import Container
from pourtier.domain.money import format_usdc
from pourtier.domain.subscriptions import ChargeKind, PlanName, SubscriptionCharge
from pourtier.infrastructure.persistence.unit_of_work import SqlUnitOfWork
from tests.helpers import TestClock, bearer, login
from tests.subscription_helpers import (
    BASIC,
    DAY,
    PRO,
    KilledAfterSend,
    ProcessKilled,
    chain_copy,
    charge_transactions,
    charges,
    check,
    end_of,
    escrow_balance,
    fresh_workers,
    get_subscription,
    move_to,
    rows,
    subscribe,
    subscribed,
    treasury_balance,
    user_id,
)
from tests.support.escrow import (
    assert_ledger_matches_chain,
    create_funded_escrow,
    escrow_round_trip,
)

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test

HOUR = timedelta(hours=1)


def sub_id(subscription: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(subscription["id"])


async def test_the_whole_life_of_a_subscription_on_the_local_chain(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    """Initialize, deposit, subscribe, upgrade, renew, run dry, past due,
    expire, withdraw: the books agree at every step."""
    wallet, tokens, sub = await subscribed(client, container, "basic", "180")
    await assert_ledger_matches_chain(container, wallet)

    clock.offset = 10 * DAY
    tokens = await login(client, wallet)
    upgraded = await subscribe(client, tokens, "pro")
    assert upgraded.status_code == 200, upgraded.text
    upgrade_paid = int(
        next(c for c in await charges(container) if c.kind == "upgrade").amount
    )
    await assert_ledger_matches_chain(container, wallet)

    assert await container.renewals.run_once() == 0  # nothing due yet
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["plan"], renewed["status"]) == ("pro", "active")
    assert renewed["current_period_start"] == sub["current_period_end"]
    assert end_of(renewed) - end_of(sub) == 30 * DAY
    assert renewed["charge_signature"] not in (
        sub["charge_signature"],
        upgraded.json()["charge_signature"],
    )
    left = 180_000_000 - BASIC - upgrade_paid - PRO
    assert await escrow_balance(container, wallet) == left
    await assert_ledger_matches_chain(container, wallet)

    move_to(clock, end_of(renewed))  # too little left for another month
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    overdue = await get_subscription(client, tokens, sub["id"])
    assert overdue["status"] == "past_due"
    assert overdue["current_period_end"] == renewed["current_period_end"]
    access = await check(client, tokens)
    assert (access["has_access"], access["status"]) == (True, "past_due")
    assert datetime.fromisoformat(access["expires_at"]) == end_of(renewed) + 3 * DAY
    assert await container.renewals.run_once() == 0  # next attempt is later

    clock.offset += 7 * HOUR
    assert await container.renewals.run_once() == 1  # retried, still short
    renewal = [c for c in await charges(container) if c.kind == "renewal"]
    assert [(c.status, c.attempts) for c in renewal] == [
        ("confirmed", 1),
        ("failed", 2),
    ]

    move_to(clock, end_of(renewed) + 3 * DAY)
    tokens = await login(client, wallet)
    assert (await check(client, tokens))["has_access"] is False  # before the job
    assert await container.renewals.run_once() == 1
    expired = await get_subscription(client, tokens, sub["id"])
    assert expired["status"] == "expired"
    assert await container.renewals.run_once() == 0
    assert await escrow_balance(container, wallet) == left  # nothing taken

    withdrawn = await escrow_round_trip(
        client,
        container,
        tokens,
        wallet,
        "/api/escrow/withdraw",
        {"amount": format_usdc(left)},
    )
    assert withdrawn["status"] == "confirmed"
    assert await assert_ledger_matches_chain(container, wallet) == 0
    assert [
        (t.status, int(t.amount)) for t in await charge_transactions(container)
    ] == [
        ("confirmed", BASIC),
        ("confirmed", upgrade_paid),
        ("confirmed", PRO),
    ]


async def test_a_confirmed_deposit_makes_a_past_due_renewal_retry_at_once(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "basic", "30")
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    assert (await get_subscription(client, tokens, sub["id"]))["status"] == "past_due"
    assert await container.renewals.run_once() == 0

    deposited = await escrow_round_trip(
        client, container, tokens, wallet, "/api/escrow/deposit", {"amount": "30"}
    )
    assert deposited["status"] == "confirmed"  # the follower ran the hook
    assert await container.renewals.run_once() == 1

    renewed = await get_subscription(client, tokens, sub["id"])
    assert renewed["status"] == "active"
    assert renewed["current_period_start"] == sub["current_period_end"]
    assert await escrow_balance(container, wallet) == 60_000_000 - 2 * BASIC
    renewal = [c for c in await charges(container) if c.kind == "renewal"]
    assert [(c.status, c.attempts) for c in renewal] == [("confirmed", 2)]


async def test_a_scheduled_downgrade_renews_at_the_lower_price(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "pro", "200")
    assert (await subscribe(client, tokens, "basic")).status_code == 200
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() == 1
    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["plan"], renewed["scheduled_plan"]) == ("basic", None)
    assert await escrow_balance(container, wallet) == 200_000_000 - PRO - BASIC
    assert (await check(client, tokens))["max_active_strategies"] == 1


async def test_access_is_judged_by_dates_when_the_job_is_late(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    renewing_wallet, _, renewing = await subscribed(client, container, "basic", "100")
    ending_wallet, _, ending = await subscribed(client, container, "basic", "100")
    tokens = await login(client, ending_wallet)
    response = await client.delete(
        f"/api/subscriptions/{ending['id']}", headers=bearer(tokens)
    )
    assert response.status_code == 200

    move_to(clock, end_of(renewing) + 2 * DAY)  # no job has run
    renewing_tokens = await login(client, renewing_wallet)
    ending_tokens = await login(client, ending_wallet)
    assert (await check(client, renewing_tokens))["has_access"] is True  # grace
    assert (await check(client, ending_tokens))["has_access"] is False

    move_to(clock, end_of(renewing) + 3 * DAY)  # grace over, still no job
    renewing_tokens = await login(client, renewing_wallet)
    assert (await check(client, renewing_tokens))["has_access"] is False
    assert await container.renewals.run_once() == 2
    statuses = {
        s.id: s.status
        for s in await rows(container, "SELECT id, status FROM subscriptions")
    }
    assert sorted(statuses.values()) == ["canceled", "expired"]
    assert len(await charges(container)) == 2  # no late charge for a lost period


async def test_without_auto_renew_the_subscription_expires_uncharged(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    sub = (await subscribe(client, tokens, "basic", auto_renew=False)).json()
    move_to(clock, end_of(sub))
    tokens = await login(client, wallet)
    assert (await check(client, tokens))["has_access"] is False
    assert await container.renewals.run_once() == 1
    assert (await get_subscription(client, tokens, sub["id"]))["status"] == "expired"
    assert await escrow_balance(container, wallet) == 100_000_000 - BASIC


async def test_concurrent_workers_charge_each_period_once(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    subs = [await subscribed(client, container, "basic", "70") for _ in range(4)]
    treasury = await treasury_balance(container)
    move_to(clock, max(end_of(sub) for _, _, sub in subs))

    workers = [fresh_workers(container, clock)[1] for _ in range(6)]
    done = await asyncio.gather(*(worker.run_once() for worker in workers))

    assert sum(done) == 4
    assert sum(await asyncio.gather(*(w.run_once() for w in workers))) == 0
    assert await treasury_balance(container) - treasury == 4 * BASIC
    renewal = [c for c in await charges(container) if c.kind == "renewal"]
    assert [(c.status, c.attempts) for c in renewal] == [("confirmed", 1)] * 4
    for wallet, _, _ in subs:
        assert await escrow_balance(container, wallet) == 70_000_000 - 2 * BASIC


async def test_the_database_refuses_a_second_charge_for_a_period(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    _, tokens, sub = await subscribed(client, container, "basic", "100")
    (charge,) = await charges(container)
    duplicate = SubscriptionCharge(
        subscription_id=sub_id(sub),
        user_id=user_id(tokens),
        kind=ChargeKind.INITIAL,
        period_start=charge.period_start,
        amount=1,
        plan=PlanName.BASIC,
        created_at=clock(),
    )
    async with SqlUnitOfWork(container.session_factory) as uow:
        assert await uow.subscriptions.add_charge(duplicate) is False
        await uow.commit()
    with pytest.raises(IntegrityError, match="uq_subscription_charges_period"):
        async with container.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO subscription_charges (id, subscription_id, user_id, "
                    "kind, period_start, amount, plan, status, attempts, "
                    "created_at) "
                    "SELECT gen_random_uuid(), subscription_id, user_id, kind, "
                    "period_start, amount, plan, 'pending', 0, now() "
                    "FROM subscription_charges"
                )
            )
    assert len(await charges(container)) == 1


async def test_claiming_skips_locked_rows_without_waiting(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "basic", "100")
    move_to(clock, end_of(sub))
    async with SqlUnitOfWork(container.session_factory) as holder:
        await holder.escrow.lock_movements(user_id(tokens))  # e.g. a withdrawal
        async with asyncio.timeout(5):
            assert await container.renewals.run_once() == 0
    async with SqlUnitOfWork(container.session_factory) as holder:
        await holder.subscriptions.get(sub_id(sub), for_update=True)
        async with asyncio.timeout(5):
            assert await container.renewals.run_once() == 0
    assert await container.renewals.run_once() == 1
    assert await escrow_balance(container, wallet) == 100_000_000 - 2 * BASIC


async def test_a_worker_killed_after_charging_on_chain_is_finished_after_restart(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "basic", "100")
    treasury = await treasury_balance(container)
    move_to(clock, end_of(sub))
    _, doomed = fresh_workers(container, clock, chain_copy(container, KilledAfterSend))

    with pytest.raises(ProcessKilled):
        await doomed.run_once()

    # On chain it is paid; in the database only "pending" was recorded.
    assert await treasury_balance(container) - treasury == BASIC
    assert [t.status for t in await charge_transactions(container)][-1] == "pending"

    follower, renewals = fresh_workers(container, clock)  # the restarted process
    assert await renewals.run_once() == 0  # in flight: never charged again
    assert await follower.run_once() == 1
    assert await renewals.run_once() == 0
    assert await follower.run_once() == 0

    tokens = await login(client, wallet)
    renewed = await get_subscription(client, tokens, sub["id"])
    assert (renewed["status"], renewed["current_period_start"]) == (
        "active",
        sub["current_period_end"],
    )
    assert await treasury_balance(container) - treasury == BASIC
    assert await assert_ledger_matches_chain(container, wallet) == (
        100_000_000 - 2 * BASIC
    )
    assert [(c.kind, c.status) for c in await charges(container)] == [
        ("initial", "confirmed"),
        ("renewal", "confirmed"),
    ]


async def test_a_worker_killed_before_sending_is_sent_after_restart(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, _, sub = await subscribed(client, container, "basic", "100")
    treasury = await treasury_balance(container)
    move_to(clock, end_of(sub))

    class KilledBeforeSend(KilledAfterSend):
        async def send(self, transaction: bytes) -> None:
            raise ProcessKilled

    _, doomed = fresh_workers(container, clock, chain_copy(container, KilledBeforeSend))
    with pytest.raises(ProcessKilled):
        await doomed.run_once()
    assert await treasury_balance(container) == treasury  # nothing reached the chain

    follower, renewals = fresh_workers(container, clock)
    assert await renewals.run_once() == 0
    assert await follower.run_once() == 1  # sends the recorded bytes, settles
    assert await treasury_balance(container) - treasury == BASIC
    assert await assert_ledger_matches_chain(container, wallet) == (
        100_000_000 - 2 * BASIC
    )
    assert len(await charge_transactions(container)) == 2


async def test_the_renewal_job_runs_with_the_workers_and_feeds_the_gauge(
    client: httpx.AsyncClient, container: Container
) -> None:
    assert container.renewals.run_once in container.workers
    await subscribed(client, container, "basic", "100")
    await subscribed(client, container, "pro", "100")
    await container.refresh_gauges()
    assert (
        container.metrics.registry.get_sample_value(
            "pourtier_subscriptions_active_total"
        )
        == 2
    )
