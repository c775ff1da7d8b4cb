"""What needs a verified KYC is configuration: the unverified deposit limit
and KYC_REQUIRED_FOR (withdraw, subscribe, pro), each answered
403 {detail, kyc_status, requirement: "kyc"} before anything is prepared, and
lifted as soon as an operator verifies the user."""

from __future__ import annotations

from typing import Any

import httpx

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from tests.conftest import Serve
from tests.helpers import bearer, create_user
from tests.kyc_helpers import app_client, approve, start_manual, user_id
from tests.subscription_helpers import rows, subscribe
from tests.support.escrow import create_funded_escrow, prepare_and_submit


async def an_admin(other: httpx.AsyncClient, served: Container) -> dict[str, Any]:
    wallet = Wallet()
    tokens = await create_user(other, wallet)
    await served.admin.grant(Actor.cli(), wallet.address)
    return tokens


async def verify(
    other: httpx.AsyncClient, served: Container, tokens: dict[str, Any]
) -> None:
    """The user submits their details, an operator approves them."""
    await start_manual(other, tokens)
    await approve(other, await an_admin(other, served), tokens)


def requires_kyc(response: httpx.Response, status: str = "not_started") -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert set(body) == {"detail", "kyc_status", "requirement"}
    assert (body["kyc_status"], body["requirement"]) == (status, "kyc")
    assert "KYC" in body["detail"]


async def movements(served: Container, tokens: dict[str, Any]) -> list[Any]:
    return await rows(
        served,
        "SELECT type, amount, status FROM escrow_transactions WHERE user_id = :u "
        "ORDER BY created_at",
        u=user_id(tokens),
    )


async def deposit(
    other: httpx.AsyncClient, tokens: dict[str, Any], amount: str
) -> httpx.Response:
    return await other.post(
        "/api/escrow/deposit", json={"amount": amount}, headers=bearer(tokens)
    )


async def test_deposits_past_the_unverified_limit_need_kyc(
    container: Container, serve: Serve
) -> None:
    async with (
        serve(KYC_UNVERIFIED_DEPOSIT_LIMIT_USDC="10") as served,
        app_client(served) as other,
    ):
        wallet, tokens = await create_funded_escrow(other, served, deposit="6")
        before = await movements(served, tokens)
        requires_kyc(await deposit(other, tokens, "4.000001"))
        assert await movements(served, tokens) == before  # nothing prepared

        exactly = await deposit(other, tokens, "4")  # 6 + 4: at the limit
        assert exactly.status_code == 200, exactly.text
        # Prepared is not yet a deposit; signed and sent, it counts.
        await prepare_and_submit(
            other, tokens, wallet, "/api/escrow/deposit", {"amount": "4"}
        )
        count = len(await movements(served, tokens))
        requires_kyc(await deposit(other, tokens, "0.000001"))
        await start_manual(other, tokens)
        requires_kyc(await deposit(other, tokens, "0.000001"), "in_review")
        assert len(await movements(served, tokens)) == count

        await approve(other, await an_admin(other, served), tokens)
        for amount in ("0.000001", "4.000001", "500"):
            allowed = await deposit(other, tokens, amount)
            assert allowed.status_code == 200, allowed.text


async def test_the_default_limit_is_a_thousand_usdc(
    client: httpx.AsyncClient, container: Container
) -> None:
    assert container.escrow.kyc.unverified_deposit_limit == 1_000_000_000
    assert container.escrow.kyc.required_for == frozenset()
    _, tokens = await create_funded_escrow(
        client, container, deposit="1000", faucet="1500"
    )
    requires_kyc(await deposit(client, tokens, "0.000001"))


async def test_withdrawals_may_need_kyc(container: Container, serve: Serve) -> None:
    async with (
        serve(KYC_REQUIRED_FOR=["withdraw"]) as served,
        app_client(served) as other,
    ):
        _, tokens = await create_funded_escrow(other, served, deposit="10")
        before = await movements(served, tokens)
        withdraw = {"amount": "1"}
        refused = await other.post(
            "/api/escrow/withdraw", json=withdraw, headers=bearer(tokens)
        )
        requires_kyc(refused)
        assert await movements(served, tokens) == before
        await verify(other, served, tokens)
        allowed = await other.post(
            "/api/escrow/withdraw", json=withdraw, headers=bearer(tokens)
        )
        assert allowed.status_code == 200, allowed.text


async def test_subscribing_may_need_kyc(container: Container, serve: Serve) -> None:
    async with (
        serve(KYC_REQUIRED_FOR=["subscribe"]) as served,
        app_client(served) as other,
    ):
        _, tokens = await create_funded_escrow(other, served, deposit="100")
        for plan in ("basic", "pro"):
            requires_kyc(await subscribe(other, tokens, plan))
        subscriptions = "SELECT id FROM subscriptions WHERE user_id = :u"
        assert await rows(served, subscriptions, u=user_id(tokens)) == []
        await verify(other, served, tokens)
        allowed = await subscribe(other, tokens, "basic")
        assert allowed.status_code == 201, allowed.text


async def test_the_pro_plan_may_need_kyc(container: Container, serve: Serve) -> None:
    async with (
        serve(KYC_REQUIRED_FOR=["pro"]) as served,
        app_client(served) as other,
    ):
        _, pro = await create_funded_escrow(other, served, deposit="200")
        requires_kyc(await subscribe(other, pro, "pro"))
        await verify(other, served, pro)
        allowed = await subscribe(other, pro, "pro")
        assert allowed.status_code == 201, allowed.text

        _, basic = await create_funded_escrow(other, served, deposit="100")
        not_gated = await subscribe(other, basic, "basic")
        assert not_gated.status_code == 201, not_gated.text


async def test_nothing_is_gated_by_default(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="200")
    withdrawn = await client.post(
        "/api/escrow/withdraw", json={"amount": "1"}, headers=bearer(tokens)
    )
    assert withdrawn.status_code == 200, withdrawn.text
    subscribed = await subscribe(client, tokens, "pro")
    assert subscribed.status_code == 201, subscribed.text
