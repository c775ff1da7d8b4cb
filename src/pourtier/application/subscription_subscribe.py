"""Subscribing: a new subscription, an upgrade charged prorated now, or a
downgrade scheduled for the period's end; with an idempotency key, a retry
gets the first answer and never a second charge.

Charges follow `subscription_charges`: recorded, committed, then sent, and
settled by the escrow follower's code path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pourtier.application.subscription_answers import (
    Answer,
    Outcome,
    StartedCharge,
    SubscriptionView,
    check_key,
    from_snapshot,
    request_fingerprint,
    to_stored,
)
from pourtier.application.subscription_charges import (
    Billing,
    await_final,
    check_funds,
    record_charge_transaction,
    send_recorded,
    upgrade_target,
    wallet_of,
)
from pourtier.domain.errors import Conflict, InvalidInput, NotFound, owned
from pourtier.domain.escrow import EscrowTransaction, TransactionStatus
from pourtier.domain.kyc import KycAction, KycPolicy
from pourtier.domain.subscriptions import (
    ChargeKind,
    ChargeStatus,
    PlanName,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
    prorated_upgrade,
)
from pourtier.domain.unit_of_work import UnitOfWork


@dataclass
class Subscribing(Billing):
    """The use cases' `subscribe` (see `SubscriptionUseCases`) and the locks
    and checks a plan change shares with the other changes."""

    confirm_timeout_seconds: float = 30.0
    kyc: KycPolicy = field(default_factory=KycPolicy)

    async def subscribe(
        self,
        user_id: uuid.UUID,
        plan: PlanName,
        auto_renew: bool = True,
        idempotency_key: str | None = None,
    ) -> Answer:
        """New subscription, upgrade (charged prorated now) or scheduled downgrade.

        With an idempotency key, a retry gets the first answer and never a
        second charge; answers to requests refused before any charge are not
        kept, so such a request may be retried once the cause is fixed.
        """
        if idempotency_key is not None:
            check_key(idempotency_key)
        fingerprint = request_fingerprint(plan, auto_renew)
        async with self.uow() as uow:
            await uow.escrow.lock_movements(user_id)
            started: StartedCharge | Answer | None = None
            if idempotency_key is not None:
                started = await self._replay(uow, user_id, idempotency_key, fingerprint)
            if started is None:
                started = await self._start(uow, user_id, plan, auto_renew)
                if idempotency_key is not None:
                    await uow.subscriptions.store_idempotent_response(
                        user_id,
                        idempotency_key,
                        fingerprint,
                        *to_stored(started),
                    )
                await uow.commit()
        if isinstance(started, Answer):
            return started
        if started.signed is not None:
            await send_recorded(self.chain, started.signed)
        status = await await_final(
            self.follow, started.transaction_id, self.confirm_timeout_seconds
        )
        answer = await self._answer(started, status)
        if idempotency_key is not None and answer.outcome is not Outcome.PENDING:
            async with self.uow() as uow:
                await uow.subscriptions.store_idempotent_response(
                    user_id, idempotency_key, fingerprint, *to_stored(answer)
                )
                await uow.commit()
        return answer

    async def _replay(
        self, uow: UnitOfWork, user_id: uuid.UUID, key: str, fingerprint: str
    ) -> StartedCharge | Answer | None:
        found = await uow.subscriptions.idempotent_response(user_id, key)
        if found is None:
            return None
        stored_fingerprint, stored_outcome, body = found
        if stored_fingerprint != fingerprint:
            raise Conflict("this Idempotency-Key was already used for another request")
        outcome = Outcome(stored_outcome)
        if outcome is not Outcome.IN_PROGRESS:
            return from_snapshot(outcome, body)
        return StartedCharge(
            uuid.UUID(body["subscription_id"]),
            uuid.UUID(body["transaction_id"]),
            ChargeKind(body["kind"]),
        )

    async def _start(
        self, uow: UnitOfWork, user_id: uuid.UUID, plan: PlanName, auto_renew: bool
    ) -> StartedCharge | Answer:
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user not found")
        self.kyc.check(user.kyc_status, KycAction.SUBSCRIBE)
        if plan is PlanName.PRO:
            self.kyc.check(user.kyc_status, KycAction.PRO)
        live = await uow.subscriptions.live_for_user(user_id)
        if live is None:
            return await self._start_new(uow, user_id, plan, auto_renew)
        subscription = await self._locked(uow, user_id, live.id)
        if subscription.status is SubscriptionStatus.PENDING:
            raise Conflict(
                f"your {subscription.plan} subscription is being charged; "
                "try again shortly"
            )
        if not subscription.status.is_live:
            raise Conflict(f"the subscription has just become {subscription.status}")
        if subscription.plan is plan:
            scheduled = subscription.scheduled_plan or subscription.cancel_at_period_end
            hint = " (POST .../resume keeps it going)" if scheduled else ""
            raise Conflict(f"you already have an active {plan} subscription{hint}")
        await self._check_plan_change(uow, subscription, self.clock())
        if self.plans[plan].rank < self.plans[subscription.plan].rank:
            return await self._schedule_downgrade(uow, subscription, plan)
        return await self._start_upgrade(uow, subscription, plan)

    async def _check_plan_change(
        self, uow: UnitOfWork, subscription: Subscription, now: datetime
    ) -> None:
        """Conflict while a charge is in flight or the period ended unrenewed.

        Call with the subscription locked: every charge of it is made and
        settled under that lock, so none starts or settles before our commit.
        """
        subscription.check_plan_change(
            now, await uow.subscriptions.charge_in_flight(subscription.id)
        )

    async def _start_new(
        self, uow: UnitOfWork, user_id: uuid.UUID, plan: PlanName, auto_renew: bool
    ) -> StartedCharge:
        price = self.plans[plan]
        wallet = await wallet_of(uow, user_id)
        await check_funds(
            uow, self.chain, user_id, wallet, price.price, f"{plan} subscription"
        )
        now = self.clock()
        subscription = Subscription(
            user_id=user_id,
            plan=plan,
            status=SubscriptionStatus.PENDING,
            current_period_start=now,
            current_period_end=now + price.period,
            created_at=now,
            updated_at=now,
            auto_renew=auto_renew,
        )
        await uow.subscriptions.add(subscription)
        transaction = await record_charge_transaction(
            uow, self.chain, now, user_id, wallet, price.price
        )
        charge = SubscriptionCharge.of(
            subscription, ChargeKind.INITIAL, now, plan, price.price, now
        )
        return await self._attempt(uow, charge, transaction, fresh=True)

    async def _schedule_downgrade(
        self, uow: UnitOfWork, subscription: Subscription, plan: PlanName
    ) -> Answer:
        """Call with the subscription locked and the change checked."""
        if subscription.scheduled_plan is plan:
            raise Conflict(
                f"a change to {plan} is already scheduled for "
                f"{subscription.current_period_end.isoformat()}"
            )
        subscription.scheduled_plan = plan
        subscription.updated_at = self.clock()
        await uow.subscriptions.save(subscription)
        signatures = await uow.subscriptions.charge_signatures([subscription.id])
        return Answer(
            Outcome.CHANGED,
            SubscriptionView(subscription, signatures.get(subscription.id)),
        )

    async def _start_upgrade(
        self, uow: UnitOfWork, subscription: Subscription, plan: PlanName
    ) -> StartedCharge:
        """Call with the subscription locked and the change checked."""
        now = self.clock()
        if plan is not upgrade_target(self.plans):
            raise InvalidInput(f"cannot upgrade to {plan}")
        amount = prorated_upgrade(
            self.plans[subscription.plan],
            self.plans[plan],
            subscription.current_period_start,
            subscription.current_period_end,
            now,
        )
        period = subscription.current_period_start
        charge = await uow.subscriptions.get_charge(
            subscription.id, ChargeKind.UPGRADE, period, for_update=True
        )
        if charge is not None and charge.status is not ChargeStatus.FAILED:
            raise Conflict("an upgrade of this period is already being charged")
        wallet = await wallet_of(uow, subscription.user_id)
        await check_funds(
            uow, self.chain, subscription.user_id, wallet, amount, f"upgrade to {plan}"
        )
        transaction = await record_charge_transaction(
            uow, self.chain, now, subscription.user_id, wallet, amount
        )
        if charge is None:
            charge = SubscriptionCharge.of(
                subscription, ChargeKind.UPGRADE, period, plan, amount, now
            )
            return await self._attempt(uow, charge, transaction, fresh=True)
        charge.amount = amount
        charge.plan = plan
        return await self._attempt(uow, charge, transaction, fresh=False)

    async def _attempt(
        self,
        uow: UnitOfWork,
        charge: SubscriptionCharge,
        transaction: EscrowTransaction,
        *,
        fresh: bool,
    ) -> StartedCharge:
        """Record an attempt of `charge` on `transaction` (a new charge, or a
        failed one billed again), to be sent once committed."""
        charge.attempt(transaction.id)
        if fresh:
            await uow.subscriptions.add_charge(charge)
        else:
            await uow.subscriptions.save_charge(charge)
        return StartedCharge(
            charge.subscription_id,
            transaction.id,
            charge.kind,
            transaction.signed_transaction,
        )

    async def _answer(
        self, started: StartedCharge, status: TransactionStatus | None
    ) -> Answer:
        async with self.uow() as uow:
            subscription = await uow.subscriptions.get(started.subscription_id)
            transaction = await uow.escrow.get(started.transaction_id)
        if subscription is None or transaction is None:
            raise NotFound("subscription not found")
        view = SubscriptionView(subscription, transaction.signature)
        if status is TransactionStatus.CONFIRMED:
            outcome = (
                Outcome.CREATED
                if started.kind is ChargeKind.INITIAL
                else Outcome.CHANGED
            )
            return Answer(outcome, view)
        if status in (TransactionStatus.FAILED, TransactionStatus.EXPIRED):
            what = "subscription" if started.kind is ChargeKind.INITIAL else "upgrade"
            return Answer(
                Outcome.PAYMENT_FAILED,
                view,
                f"the {what} charge did not go through on chain "
                f"({transaction.error or status}); nothing was taken",
            )
        return Answer(Outcome.PENDING, view)

    async def _locked(
        self, uow: UnitOfWork, user_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> Subscription:
        """The caller's subscription, locked; call under the user's lock."""
        found = await uow.subscriptions.get(subscription_id, for_update=True)
        return owned(found, user_id, "subscription")
