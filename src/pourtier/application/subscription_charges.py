"""Charging a subscription from the escrow, and applying what the chain decided.

Every charge takes the same path, whether a user subscribes or upgrades or the
renewal job renews:

1. under the user's lock, check the escrow on chain (balance less debits in
   flight, allowance less charges in flight), have the fee authority sign the
   transfer, and record it (escrow transaction PENDING with its signed bytes,
   plus the subscription charge, unique per subscription, kind and period);
   commit;
2. send the recorded bytes;
3. let the escrow follower settle it: it writes the ledger entry and calls
   `ChargeSettlement`, which moves the subscription in the same transaction.

A crash after 1 leaves a PENDING row that the follower sends again or sees
land or expire; nothing is signed twice for one charge attempt, and a new
attempt is only made once the previous one is final.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.application.subscription_events import Before, payment, transitions
from pourtier.domain.errors import NotFound
from pourtier.domain.escrow import (
    Chain,
    ChainRejected,
    ChainUnavailable,
    EscrowTransaction,
    TransactionStatus,
    TransactionType,
)
from pourtier.domain.money import format_usdc
from pourtier.domain.receipts import Receipt
from pourtier.domain.subscriptions import (
    GRACE,
    ChargeKind,
    ChargeStatus,
    PaymentRequired,
    Plan,
    PlanName,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

RETRY_INTERVAL = timedelta(hours=6)
POLL_INTERVAL_SECONDS = 0.2

Follow = Callable[[uuid.UUID], Awaitable[TransactionStatus | None]]
"""Settle one escrow transaction now if the chain has decided it (the follower)."""


@dataclass
class Billing:
    """What every use case that charges a subscription works with."""

    uow: UnitOfWorkFactory
    chain: Chain
    clock: Clock
    follow: Follow
    plans: dict[PlanName, Plan]
    grace: timedelta = GRACE
    retry_interval: timedelta = RETRY_INTERVAL


async def wallet_of(uow: UnitOfWork, user_id: uuid.UUID) -> str:
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("user not found")
    return user.wallet_address


async def check_funds(
    uow: UnitOfWork,
    chain: Chain,
    user_id: uuid.UUID,
    wallet: str,
    amount: int,
    what: str,
) -> None:
    """PaymentRequired unless the escrow can pay `amount` on top of what's in flight.

    Call under `uow.escrow.lock_movements(user_id)`, so no other movement of this
    user's money is being decided meanwhile.
    """
    price = format_usdc(amount)
    state = await chain.escrow_state(wallet)
    if not state.exists or state.mint != chain.usdc_mint:
        raise PaymentRequired(
            f"the {what} costs {price} USDC but there is no escrow yet: "
            "initialize and fund it (POST /api/escrow/initialize)"
        )
    if state.delegate != chain.fee_authority:
        raise PaymentRequired(
            f"the {what} costs {price} USDC but the escrow has not approved "
            "the platform's fee authority as its delegate"
        )
    available = state.balance - await uow.escrow.pending_debits(user_id)
    if available < amount:
        raise PaymentRequired(
            f"the {what} costs {price} USDC but the escrow balance available "
            f"is {format_usdc(max(0, available))} USDC: deposit at least "
            f"{format_usdc(amount - max(0, available))} USDC more"
        )
    allowance = state.delegated_amount - await uow.subscriptions.pending_charge_total(
        user_id
    )
    if allowance < amount:
        raise PaymentRequired(
            f"the {what} costs {price} USDC but the allowance left for the fee "
            f"authority is {format_usdc(max(0, allowance))} USDC: approve a "
            "larger allowance"
        )


async def record_charge_transaction(
    uow: UnitOfWork,
    chain: Chain,
    now: datetime,
    user_id: uuid.UUID,
    wallet: str,
    amount: int,
) -> EscrowTransaction:
    """Sign the transfer as the fee authority and record it PENDING (not sent)."""
    signed = await chain.sign_charge(wallet, amount)
    transaction = EscrowTransaction(
        user_id=user_id,
        wallet_address=wallet,
        type=TransactionType.SUBSCRIPTION_CHARGE,
        amount=amount,
        prepared_transaction=signed.transaction,
        last_valid_block_height=signed.last_valid_block_height,
        created_at=now,
        expires_at=now,
        status=TransactionStatus.PENDING,
        signed_transaction=signed.transaction,
        signature=signed.signature,
        submitted_at=now,
    )
    await uow.escrow.add(transaction)
    return transaction


async def send_recorded(chain: Chain, transaction: bytes) -> None:
    """Broadcast; if that fails the follower sends it again until it expires."""
    try:
        await chain.send(transaction)
    except (ChainUnavailable, ChainRejected) as error:
        log.warning("charge not sent; the follower will retry", error=error.detail)


async def await_final(
    follow: Follow, transaction_id: uuid.UUID, within_seconds: float
) -> TransactionStatus | None:
    """Ask the follower to settle it until it is final or `within_seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_seconds
    while True:
        try:
            status = await follow(transaction_id)
        except ChainUnavailable:
            status = TransactionStatus.PENDING
        if status is not TransactionStatus.PENDING or loop.time() >= deadline:
            return status
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


def upgrade_target(plans: dict[PlanName, Plan]) -> PlanName:
    """An upgrade always goes to the highest plan (pro)."""
    return max(plans.values(), key=lambda plan: plan.rank).name


def next_attempt(
    subscription: Subscription, now: datetime, grace: timedelta, retry: timedelta
) -> datetime:
    """Retry later, but no later than the end of the grace period."""
    return min(now + retry, subscription.current_period_end + grace)


@dataclass
class ChargeSettlement:
    """The follower's settlement hook: move subscriptions as charges settle.

    Runs inside the unit of work that settles the escrow transaction, so the
    ledger entry and the subscription change commit together or not at all.
    Locks the subscription before its charge, the order every flow uses.
    """

    clock: Clock
    plans: dict[PlanName, Plan]
    grace: timedelta = GRACE
    retry_interval: timedelta = RETRY_INTERVAL

    async def __call__(self, uow: UnitOfWork, transaction: EscrowTransaction) -> None:
        if transaction.type.is_credit:  # a deposit, by the service or not
            if transaction.status is TransactionStatus.CONFIRMED:
                await self._retry_past_due(uow, transaction.user_id)
            return
        if transaction.type is not TransactionType.SUBSCRIPTION_CHARGE:
            return
        if not transaction.status.is_final:
            return
        found = await uow.subscriptions.charge_for_transaction(transaction.id)
        if found is None:
            return  # an older attempt, replaced by a retry
        subscription = await uow.subscriptions.get(
            found.subscription_id, for_update=True
        )
        charge = await uow.subscriptions.charge_for_transaction(
            transaction.id, for_update=True
        )
        if subscription is None or charge is None:
            return
        if charge.status is not ChargeStatus.PENDING:
            return  # already applied
        now = self.clock()
        before = Before.of(subscription)
        if transaction.status is TransactionStatus.CONFIRMED:
            charge.status = ChargeStatus.CONFIRMED
            charge.next_attempt_at = None
            self._paid(subscription, charge)
        else:
            charge.status = ChargeStatus.FAILED
            self._failed(subscription, charge, now)
        subscription.updated_at = now
        await uow.subscriptions.save_charge(charge)
        await uow.subscriptions.save(subscription)
        if charge.status is ChargeStatus.CONFIRMED:
            await self._issue_receipt(uow, subscription, charge, transaction, now)
        await payment(uow, subscription, charge, transaction, now)
        await transitions(uow, subscription, before, now)
        log.info(
            "subscription charge settled",
            subscription_id=str(subscription.id),
            kind=charge.kind.value,
            charge_status=charge.status.value,
            subscription_status=subscription.status.value,
        )

    async def _issue_receipt(
        self,
        uow: UnitOfWork,
        subscription: Subscription,
        charge: SubscriptionCharge,
        transaction: EscrowTransaction,
        now: datetime,
    ) -> None:
        """The charge's receipt, in the transaction that confirms it.

        Only the settlement that moves the charge (locked) from PENDING to
        CONFIRMED gets here, so a retry or a second follower issues none; the
        look-up first keeps a number from being taken for nothing.
        """
        if await uow.receipts.for_charge(charge.id) is not None:
            return
        assert transaction.signature is not None  # confirmed: it was sent
        if charge.kind is ChargeKind.UPGRADE:  # the rest of the current period
            period_end = subscription.current_period_end
        else:
            period_end = charge.period_start + self.plans[charge.plan].period
        receipt = await uow.receipts.issue(
            Receipt(
                sequence=0,
                user_id=charge.user_id,
                subscription_id=charge.subscription_id,
                charge_id=charge.id,
                kind=charge.kind,
                plan=charge.plan,
                period_start=charge.period_start,
                period_end=period_end,
                amount=charge.amount,
                signature=transaction.signature,
                issued_at=now,
            )
        )
        log.info("receipt issued", number=receipt.number, charge_id=str(charge.id))

    def _paid(self, subscription: Subscription, charge: SubscriptionCharge) -> None:
        """Grant the plan the charge paid for, never the one the subscription
        names by now (plan changes wait for charges, but the money decides)."""
        if charge.kind is ChargeKind.INITIAL:
            if subscription.status is SubscriptionStatus.PENDING:
                subscription.plan = charge.plan
                subscription.status = SubscriptionStatus.ACTIVE
        elif charge.kind is ChargeKind.UPGRADE:
            if subscription.status.is_live:
                subscription.plan = charge.plan
                subscription.scheduled_plan = None
        elif subscription.current_period_end == charge.period_start:
            plan = self.plans[charge.plan]
            subscription.plan = plan.name
            if subscription.scheduled_plan is plan.name:
                subscription.scheduled_plan = None  # done; any other is for later
            subscription.current_period_start = charge.period_start
            subscription.current_period_end = charge.period_start + plan.period
            subscription.status = SubscriptionStatus.ACTIVE
        else:  # cannot happen while a charge in flight blocks every change
            log.error(
                "renewal paid for a period the subscription is not at",
                subscription_id=str(subscription.id),
                period_start=charge.period_start.isoformat(),
            )

    def _failed(
        self, subscription: Subscription, charge: SubscriptionCharge, now: datetime
    ) -> None:
        if charge.kind is ChargeKind.INITIAL:
            if subscription.status is SubscriptionStatus.PENDING:
                subscription.status = SubscriptionStatus.EXPIRED
        elif charge.kind is ChargeKind.RENEWAL and subscription.status.is_live:
            subscription.status = SubscriptionStatus.PAST_DUE
            charge.next_attempt_at = next_attempt(
                subscription, now, self.grace, self.retry_interval
            )

    async def _retry_past_due(self, uow: UnitOfWork, user_id: uuid.UUID) -> None:
        """Money came in: the past-due renewal is due again now (next job pass)."""
        live = await uow.subscriptions.live_for_user(user_id)
        if live is None or live.status is not SubscriptionStatus.PAST_DUE:
            return
        subscription = await uow.subscriptions.get(live.id, for_update=True)
        if (
            subscription is None
            or subscription.status is not SubscriptionStatus.PAST_DUE
        ):
            return
        charge = await uow.subscriptions.get_charge(
            subscription.id,
            ChargeKind.RENEWAL,
            subscription.current_period_end,
            for_update=True,
        )
        if charge is None or charge.status is not ChargeStatus.FAILED:
            return
        now = self.clock()
        if charge.next_attempt_at is not None and charge.next_attempt_at <= now:
            return
        charge.next_attempt_at = now
        await uow.subscriptions.save_charge(charge)
        log.info("past-due renewal due again after a deposit", user_id=str(user_id))
