"""Subscription test helpers: real HTTP, real chain, books checked at the end."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from solders.message import Message
from solders.transaction import Transaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import revoke
from spl.token.models import RevokeParams
from sqlalchemy import text

from pourtier.application.escrow_follower import EscrowFollower
from pourtier.application.subscription_charges import ChargeSettlement
from pourtier.application.subscription_renewals import SubscriptionRenewals
from pourtier.application.subscriptions import SubscriptionUseCases
from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.solana.escrow_chain import (
    SolanaEscrowChain,
    escrow_address,
)
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.infrastructure.solana.token_accounts import decode_token_account
from tests.helpers import TestClock, bearer
from tests.support.escrow import assert_ledger_matches_chain, create_funded_escrow

BASIC = 29_990_000
PRO = 99_990_000
DAY = timedelta(days=1)


def local(container: Container) -> LocalChain:
    assert container.local_chain is not None
    return container.local_chain


async def subscribe(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    plan: str = "basic",
    key: str | None = None,
    **extra: Any,
) -> httpx.Response:
    headers = bearer(tokens)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        "/api/subscriptions/", json={"plan": plan, **extra}, headers=headers
    )


def end_of(subscription: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(subscription["current_period_end"])


def move_to(clock: TestClock, when: datetime) -> None:
    """Set the shared clock so that it now reads `when` (plus a little)."""
    clock.offset = timedelta(0)
    clock.offset = when - clock() + timedelta(seconds=1)


async def subscribed(
    client: httpx.AsyncClient, container: Container, plan: str, deposit: str
) -> tuple[Wallet, dict[str, Any], dict[str, Any]]:
    """A new user with a funded escrow and an active subscription to `plan`."""
    wallet, tokens = await create_funded_escrow(client, container, deposit=deposit)
    response = await subscribe(client, tokens, plan)
    assert response.status_code == 201, response.text
    return wallet, tokens, response.json()


async def check(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_subscription(
    client: httpx.AsyncClient, tokens: dict[str, Any], subscription_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/subscriptions/{subscription_id}", headers=bearer(tokens)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def treasury_balance(container: Container) -> int:
    account = await local(container).node.get_account(local(container).treasury)
    assert account is not None
    return decode_token_account(bytes(account.data)).amount


async def escrow_balance(container: Container, wallet: Wallet) -> int:
    return (await container.chain.escrow_state(wallet.address)).balance


async def rows(container: Container, sql: str, **params: Any) -> list[Any]:
    async with container.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def charges(container: Container) -> list[Any]:
    """(kind, status, amount, period_start, attempts, plan) of every charge,
    oldest first."""
    return await rows(
        container,
        "SELECT kind, status, amount, period_start, attempts, plan "
        "FROM subscription_charges ORDER BY created_at, period_start",
    )


async def charge_transactions(container: Container) -> list[Any]:
    """(status, amount, signature) of every charge transaction recorded."""
    return await rows(
        container,
        "SELECT status, amount, signature FROM escrow_transactions "
        "WHERE type = 'subscription_charge' ORDER BY created_at",
    )


async def revoke_delegate(container: Container, wallet: Wallet) -> None:
    """The user takes the allowance back, on chain, with their own key."""
    owner = wallet.keypair.pubkey()
    instruction = revoke(
        RevokeParams(
            program_id=TOKEN_PROGRAM_ID, account=escrow_address(owner), owner=owner
        )
    )
    blockhash, _ = local(container).node.current_blockhash()
    message = Message.new_with_blockhash([instruction], owner, blockhash)
    await container.chain.send(bytes(Transaction([wallet.keypair], message, blockhash)))


def chain_copy(
    container: Container, kind: type[SolanaEscrowChain] = SolanaEscrowChain
) -> SolanaEscrowChain:
    """Another adapter over the same local node (for fault injection)."""
    chain = local(container)
    return kind(chain.node, chain.mint, chain.keys["fee_authority"], chain.treasury)


class DroppingChain(SolanaEscrowChain):
    """A network that loses every transaction sent: nothing reaches the node."""

    async def send(self, transaction: bytes) -> None:
        return None


class ProcessKilled(BaseException):
    """Stands for SIGKILL: no `except Exception` sees it, nothing else runs."""


class KilledAfterSend(SolanaEscrowChain):
    """The transaction reaches the chain, then the process dies at once."""

    async def send(self, transaction: bytes) -> None:
        await super().send(transaction)
        raise ProcessKilled


def lossy_subscriptions(
    container: Container, confirm_timeout_seconds: float
) -> SubscriptionUseCases:
    """The use cases over a network that loses what they send, and resends."""
    dropping = chain_copy(container, DroppingChain)
    follower, _ = fresh_workers(container, TestClock(), dropping)
    follower.clock = container.renewals.clock
    return dataclasses.replace(
        container.subscriptions,
        chain=dropping,
        follow=follower.follow_one,
        confirm_timeout_seconds=confirm_timeout_seconds,
    )


def fresh_workers(
    container: Container, clock: TestClock, chain: SolanaEscrowChain | None = None
) -> tuple[EscrowFollower, SubscriptionRenewals]:
    """A new worker process: nothing in memory, the same database and chain."""
    chain = chain or container.chain
    renewals = container.renewals
    follower = EscrowFollower(uow=renewals.uow, chain=chain, clock=clock)
    follower.settlement_hooks.append(
        ChargeSettlement(clock=clock, plans=renewals.plans, grace=renewals.grace)
    )
    return follower, dataclasses.replace(
        renewals, chain=chain, clock=clock, follow=follower.follow_one
    )


async def check_books(container: Container) -> AsyncIterator[None]:
    """Around a test: every escrow equals its ledger, and the treasury received
    exactly the confirmed charges."""
    before = await treasury_balance(container)
    yield
    for (address,) in await rows(container, "SELECT wallet_address FROM users"):
        await assert_ledger_matches_chain(container, address)
    (charged,) = await rows(
        container,
        "SELECT coalesce(-sum(l.delta), 0) FROM ledger_entries l "
        "JOIN escrow_transactions t ON t.id = l.escrow_transaction_id "
        "WHERE t.type = 'subscription_charge'",
    )
    assert await treasury_balance(container) - before == int(charged[0])


def user_id(tokens: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(tokens["user"]["id"])
