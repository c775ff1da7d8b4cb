"""Subscriptions and payments tell their changes, with the on-chain signature;
the notice pass announces each renewal once, and a shortfall with it."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from pourtier.di.container import Container
from pourtier.domain.escrow import ChainUnavailable, EscrowState
from pourtier.domain.money import format_usdc
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from tests.event_helpers import events_about, notification_kinds, types_about
from tests.helpers import TestClock, bearer, create_user, login
from tests.integration.test_subscriptions import client_for
from tests.subscription_helpers import (
    BASIC,
    DAY,
    PRO,
    chain_copy,
    end_of,
    escrow_balance,
    lossy_subscriptions,
    move_to,
    revoke_delegate,
    subscribe,
    subscribed,
)
from tests.support.escrow import create_funded_escrow

pytestmark = pytest.mark.usefixtures("books")  # the books balance after each test


def uid(tokens: dict[str, Any]) -> str:
    return str(tokens["user"]["id"])


async def of_type(container: Container, user: str, type: str) -> list[dict[str, Any]]:
    return [e for e in await events_about(container, user) if e["type"] == type]


async def test_a_subscriptions_life_is_told_in_order_with_its_payments(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens, sub = await subscribed(client, container, "basic", "180")
    user = uid(tokens)
    assert [t for t in await types_about(container, user) if "." in t][-2:] == [
        "payment.completed",
        "subscription.activated",
    ]
    [paid] = await of_type(container, user, "payment.completed")
    assert paid["data"]["signature"] == sub["charge_signature"]
    assert paid["data"]["amount"] == "29.990000"
    assert (paid["subject_type"], paid["subject_id"]) == ("subscription", sub["id"])
    assert "payment_completed" in await notification_kinds(container, user)

    clock.offset = 10 * DAY
    tokens = await login(client, wallet)
    upgraded = await subscribe(client, tokens, "pro")
    assert upgraded.status_code == 200, upgraded.text
    [changed] = await of_type(container, user, "subscription.plan_changed")
    assert (changed["data"]["previous_plan"], changed["data"]["plan"]) == (
        "basic",
        "pro",
    )

    # The notice window: announced once, however many passes run.
    move_to(clock, end_of(sub) - 2 * DAY)
    for _ in range(3):
        await container.notices.run_once()
    [upcoming] = await of_type(container, user, "subscription.renewal_upcoming")
    assert upcoming["data"]["amount"] == format_usdc(PRO)
    assert await of_type(container, user, "escrow.balance_low") == []

    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() >= 1
    [renewed] = await of_type(container, user, "subscription.renewed")
    previous = datetime.fromisoformat(renewed["data"]["previous_period_end"])
    assert previous == end_of(sub)
    assert len(await of_type(container, user, "payment.completed")) == 3
    next_end = end_of(sub) + 30 * DAY

    # Too little left for the next month: told before, with the shortfall.
    move_to(clock, next_end - 2 * DAY)
    await container.notices.run_once()
    await container.notices.run_once()
    assert len(await of_type(container, user, "subscription.renewal_upcoming")) == 2
    [low] = await of_type(container, user, "escrow.balance_low")
    left = await escrow_balance(container, wallet)
    assert low["data"]["shortfall"] == format_usdc(PRO - left)
    assert low["data"]["balance_short"] is True

    move_to(clock, next_end)
    assert await container.renewals.run_once() >= 1
    [failed] = await of_type(container, user, "payment.failed")
    assert "balance" in failed["data"]["reason"]
    assert failed["data"]["signature"] is None
    assert len(await of_type(container, user, "subscription.past_due")) == 1

    move_to(clock, next_end + 3 * DAY)
    assert await container.renewals.run_once() >= 1
    assert len(await of_type(container, user, "subscription.expired")) == 1
    kinds = await notification_kinds(container, user)
    for kind in ("renewal_upcoming", "balance_low", "payment_failed", "past_due"):
        assert kind in kinds
    assert kinds[-1] == "expired"
    sequences = [
        e["sequence"]
        for e in await events_about(container, user)
        if e["subject_id"] == sub["id"]
    ]
    assert sorted(sequences) == list(range(1, len(sequences) + 1))


async def test_cancellations_are_told_when_access_ends_and_refusals_tell_nothing(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    broke = await create_user(client)
    refused = await subscribe(client, broke, "basic")
    assert refused.status_code == 402
    assert await types_about(container, uid(broke)) == ["user.registered"]

    wallet, tokens, sub = await subscribed(client, container, "basic", "100")
    user = uid(tokens)
    later = await client.delete(
        f"/api/subscriptions/{sub['id']}", headers=bearer(tokens)
    )
    assert later.status_code == 200, later.text
    assert await of_type(container, user, "subscription.canceled") == []
    move_to(clock, end_of(sub) - DAY)
    await container.notices.run_once()  # not renewing: nothing to announce
    assert await of_type(container, user, "subscription.renewal_upcoming") == []
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() >= 1
    [canceled] = await of_type(container, user, "subscription.canceled")
    assert canceled["data"]["status"] == "canceled"

    clock.offset += timedelta(minutes=1)
    tokens = await login(client, wallet)
    again = await subscribe(client, tokens, "basic")
    assert again.status_code == 201, again.text
    now = await client.delete(
        f"/api/subscriptions/{again.json()['id']}",
        params={"immediately": "true"},
        headers=bearer(tokens),
    )
    assert now.status_code == 200, now.text
    assert len(await of_type(container, user, "subscription.canceled")) == 2


class ChainDown(SolanaEscrowChain):
    async def escrow_state(self, wallet_address: str) -> EscrowState:
        raise ChainUnavailable("down for the test")


async def test_two_notice_passes_at_once_tell_once_and_an_outage_tells_nothing(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    _, tokens, sub = await subscribed(client, container, "basic", "40")
    user = uid(tokens)
    move_to(clock, end_of(sub) - DAY)
    down = dataclasses.replace(
        container.notices, chain=chain_copy(container, ChainDown)
    )
    await down.run_once()  # the announcement is rolled back with the outage
    assert await of_type(container, user, "subscription.renewal_upcoming") == []
    assert "renewal_upcoming" not in await notification_kinds(container, user)

    await asyncio.gather(container.notices.run_once(), container.notices.run_once())
    assert len(await of_type(container, user, "subscription.renewal_upcoming")) == 1
    [low] = await of_type(container, user, "escrow.balance_low")
    assert low["data"]["shortfall"] == format_usdc(2 * BASIC - 40_000_000)
    kinds = await notification_kinds(container, user)
    assert kinds.count("renewal_upcoming") == kinds.count("balance_low") == 1
    now = clock()
    async with container.notices.uow() as uow:  # told: no longer due
        due = await uow.notifications.renewals_due(now, now + 3 * DAY, 1000)
    assert sub["id"] not in {str(d.subscription_id) for d in due}


async def test_a_scheduled_downgrade_is_told_as_a_plan_change_when_it_takes_effect(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    _, tokens, sub = await subscribed(client, container, "pro", "250")
    user = uid(tokens)
    scheduled = await subscribe(client, tokens, "basic")
    assert scheduled.status_code == 200, scheduled.text
    assert await of_type(container, user, "subscription.plan_changed") == []
    move_to(clock, end_of(sub))
    assert await container.renewals.run_once() >= 1
    [changed] = await of_type(container, user, "subscription.plan_changed")
    assert (changed["data"]["previous_plan"], changed["data"]["plan"]) == (
        "pro",
        "basic",
    )
    [renewed] = await of_type(container, user, "subscription.renewed")
    assert renewed["data"]["plan"] == "basic"


async def test_a_charge_failing_on_chain_is_told_with_its_signature_and_no_activation(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="100")
    user = uid(tokens)
    lossy = lossy_subscriptions(container, 0.1)
    async with await client_for(
        dataclasses.replace(container, subscriptions=lossy)
    ) as lossy_client:
        pending = await subscribe(lossy_client, tokens, "basic")
        assert pending.status_code == 202
        assert await of_type(container, user, "payment.failed") == []
        await revoke_delegate(container, wallet)  # before the charge lands
        await container.escrow.follower.run_once()
    [failed] = await of_type(container, user, "payment.failed")
    assert failed["data"]["signature"]
    assert failed["data"]["kind"] == "initial"
    assert len(await of_type(container, user, "subscription.expired")) == 1
    assert await of_type(container, user, "subscription.activated") == []
    assert await of_type(container, user, "escrow.transaction_failed") == []
    assert await notification_kinds(container, user) == ["payment_failed"]
