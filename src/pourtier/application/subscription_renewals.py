"""The renewal job: end, renew or retry every subscription whose period is over.

Any number of these may run at once (in each API process and in `pourtier
worker`): a subscription is claimed FOR UPDATE SKIP LOCKED together with its
owner's row (the lock every money movement of that user takes), and the
database holds one charge per subscription, kind and period, so a period is
never charged twice. A renewal is sent right after its commit and settled by
the escrow follower's code path (see `subscription_charges`).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog

from pourtier.application.common import isolated
from pourtier.application.subscription_charges import (
    Billing,
    check_funds,
    next_attempt,
    record_charge_transaction,
    send_recorded,
    wallet_of,
)
from pourtier.application.subscription_events import Before, payment, transitions
from pourtier.domain.escrow import ChainUnavailable, EscrowTransaction
from pourtier.domain.subscriptions import (
    ChargeKind,
    ChargeStatus,
    PaymentRequired,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

MAX_PER_PASS = 500
Result = EscrowTransaction | bool
"""A charge to send, True for a change to commit, False for nothing to do."""


@dataclass
class SubscriptionRenewals(Billing):
    max_per_pass: int = MAX_PER_PASS

    async def run_once(self) -> int:
        """One pass; returns how many subscriptions were changed or charged.

        A chain outage ends the pass early; nothing is half done.
        """
        seen: set[uuid.UUID] = set()
        done = 0
        try:
            while len(seen) < self.max_per_pass:
                async with self.uow() as uow:
                    now = self.clock()
                    claimed = await uow.subscriptions.claim_due(now, 1, exclude=seen)
                    if not claimed:
                        break
                    subscription = claimed[0]
                    seen.add(subscription.id)
                    result = await isolated(
                        self._renew(uow, subscription, now),
                        "could not renew subscription; will retry",
                        subscription_id=str(subscription.id),
                    )
                    if result is None or result is False:
                        continue
                    await uow.commit()
                    done += 1
                if isinstance(result, EscrowTransaction):
                    await self._send(result)
        except ChainUnavailable as error:
            log.warning("chain unavailable; renewals wait", error=error.detail)
        return done

    async def _send(self, transaction: EscrowTransaction) -> None:
        assert transaction.signed_transaction is not None
        await send_recorded(self.chain, transaction.signed_transaction)
        with contextlib.suppress(ChainUnavailable):  # the follower settles it later
            await self.follow(transaction.id)

    async def _renew(
        self, uow: UnitOfWork, subscription: Subscription, now: datetime
    ) -> Result:
        end = subscription.current_period_end
        if subscription.cancel_at_period_end:
            return await self._close(uow, subscription, SubscriptionStatus.CANCELED)
        if not subscription.auto_renew:
            return await self._close(uow, subscription, SubscriptionStatus.EXPIRED)
        charge = await uow.subscriptions.get_charge(
            subscription.id, ChargeKind.RENEWAL, end, for_update=True
        )
        if charge is not None and (
            charge.status is not ChargeStatus.FAILED
            or (charge.next_attempt_at is not None and charge.next_attempt_at > now)
        ):
            return False  # claimed on a stale view: another worker has it
        if now >= end + self.grace:
            return await self._close(uow, subscription, SubscriptionStatus.EXPIRED)
        upgrade = await uow.subscriptions.get_charge(
            subscription.id, ChargeKind.UPGRADE, subscription.current_period_start
        )
        if upgrade is not None and upgrade.status is ChargeStatus.PENDING:
            return False  # renew at the plan the upgrade settles on
        plan = self.plans[subscription.scheduled_plan or subscription.plan]
        wallet = await wallet_of(uow, subscription.user_id)
        transaction: EscrowTransaction | None = None
        short_of_funds: str | None = None
        try:
            await check_funds(
                uow,
                self.chain,
                subscription.user_id,
                wallet,
                plan.price,
                f"renewal of the {plan.name} subscription",
            )
        except PaymentRequired as short:
            short_of_funds = short.detail
            log.info(
                "renewal short of funds",
                subscription_id=str(subscription.id),
                reason=short.detail,
            )
        else:
            transaction = await record_charge_transaction(
                uow, self.chain, now, subscription.user_id, wallet, plan.price
            )
        if charge is None:
            charge = SubscriptionCharge.of(
                subscription, ChargeKind.RENEWAL, end, plan.name, plan.price, now
            )
            fresh = True
        else:
            fresh = False
        charge.amount = plan.price
        charge.plan = plan.name  # what this attempt bills, and so what it grants
        charge.attempt(transaction.id if transaction is not None else None)
        if transaction is None:
            before = Before.of(subscription)
            charge.next_attempt_at = next_attempt(
                subscription, now, self.grace, self.retry_interval
            )
            subscription.status = SubscriptionStatus.PAST_DUE
            subscription.updated_at = now
            await uow.subscriptions.save(subscription)
            await payment(uow, subscription, charge, None, now, short_of_funds)
            await transitions(uow, subscription, before, now)
        else:
            charge.next_attempt_at = None
        if fresh:
            if not await uow.subscriptions.add_charge(charge):
                return False  # another worker charged this period first
        else:
            await uow.subscriptions.save_charge(charge)
        return transaction if transaction is not None else True

    async def _close(
        self,
        uow: UnitOfWork,
        subscription: Subscription,
        status: SubscriptionStatus,
    ) -> bool:
        before = Before.of(subscription)
        subscription.status = status
        subscription.updated_at = self.clock()
        await uow.subscriptions.save(subscription)
        await transitions(uow, subscription, before, subscription.updated_at)
        log.info(
            "subscription ended",
            subscription_id=str(subscription.id),
            status=status.value,
        )
        return True
