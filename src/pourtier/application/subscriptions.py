"""Subscriptions: plans, reading, cancelling and resuming, access checks.

Subscribing and changing plan (the calls that charge) are in
`subscription_subscribe`, which these use cases extend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from pourtier.application.cached import CachedReads
from pourtier.application.subscription_answers import (
    SubscriptionView,
)
from pourtier.application.subscription_events import Before, transitions
from pourtier.application.subscription_subscribe import Subscribing
from pourtier.domain.cache import Cache, NoCache
from pourtier.domain.errors import Conflict, owned
from pourtier.domain.escrow import TransactionType
from pourtier.domain.subscriptions import (
    Plan,
    PlanName,
    Subscription,
    SubscriptionStatus,
)
from pourtier.domain.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Access:
    has_access: bool
    plan: PlanName | None
    status: SubscriptionStatus | None
    expires_at: datetime | None
    max_active_strategies: int | None  # None: unlimited
    features: tuple[str, ...]


@dataclass
class SubscriptionUseCases(Subscribing):
    cache: Cache = field(default_factory=NoCache)

    def plan_list(self) -> list[Plan]:
        return sorted(self.plans.values(), key=lambda plan: plan.rank)

    # --- reading -----------------------------------------------------------------

    async def _views(
        self, uow: UnitOfWork, subscriptions: list[Subscription]
    ) -> list[SubscriptionView]:
        signatures = await uow.subscriptions.charge_signatures(
            [s.id for s in subscriptions]
        )
        return [SubscriptionView(s, signatures.get(s.id)) for s in subscriptions]

    async def list_for_user(
        self, user_id: uuid.UUID, status: SubscriptionStatus | None = None
    ) -> list[SubscriptionView]:
        async with self.uow() as uow:
            found = await uow.subscriptions.list_for_user(user_id, status)
            return await self._views(uow, found)

    async def get(
        self, user_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> SubscriptionView:
        async with self.uow() as uow:
            found = await uow.subscriptions.get(subscription_id)
            subscription = owned(found, user_id, "subscription")
            return (await self._views(uow, [subscription]))[0]

    async def check(self, user_id: uuid.UUID) -> Access:
        """What the user may use now, judged by dates: one indexed query, cached."""
        live = await CachedReads(self.uow, self.cache).live_subscription(user_id)
        now = self.clock()
        if live is None or not live.has_access(now, self.grace):
            return Access(
                False,
                live.plan if live else None,
                live.status if live else None,
                None,
                0,
                (),
            )
        plan = self.plans[live.plan]
        return Access(
            True,
            live.plan,
            live.status,
            live.access_until(self.grace),
            plan.max_active_strategies,
            plan.features,
        )

    # --- changing ----------------------------------------------------------------

    async def _live(
        self, uow: UnitOfWork, user_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> Subscription:
        """The caller's live subscription, locked with the user's money movements."""
        await uow.escrow.lock_movements(user_id)
        subscription = await self._locked(uow, user_id, subscription_id)
        if not subscription.status.is_live:
            raise Conflict(f"the subscription is already {subscription.status}")
        return subscription

    async def cancel(
        self, user_id: uuid.UUID, subscription_id: uuid.UUID, immediately: bool
    ) -> SubscriptionView:
        """At the period's end by default; `immediately` ends access now, unrefunded."""
        async with self.uow() as uow:
            subscription = await self._live(uow, user_id, subscription_id)
            if subscription.status is SubscriptionStatus.PENDING or (
                immediately
                and await uow.escrow.has_pending(
                    user_id, TransactionType.SUBSCRIPTION_CHARGE
                )
            ):
                raise Conflict("a charge is in flight; try again once it settles")
            now = self.clock()
            before = Before.of(subscription)
            if immediately:
                subscription.status = SubscriptionStatus.CANCELED
                subscription.cancel_at_period_end = False
                subscription.canceled_at = now
            elif not subscription.cancel_at_period_end:
                subscription.cancel_at_period_end = True
                subscription.canceled_at = now
            await transitions(uow, subscription, before, now)
            return await self._commit(uow, subscription, now)

    async def resume(
        self, user_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> SubscriptionView:
        """Undo a pending cancellation or scheduled downgrade before the period ends."""
        async with self.uow() as uow:
            subscription = await self._live(uow, user_id, subscription_id)
            if not (subscription.cancel_at_period_end or subscription.scheduled_plan):
                raise Conflict("no cancellation or plan change is scheduled")
            now = self.clock()
            if subscription.cancel_at_period_end and (
                now >= subscription.current_period_end
            ):
                raise Conflict("the period has already ended; subscribe again")
            if subscription.scheduled_plan is not None:
                # Dropping it changes what the renewal bills: a plan change.
                await self._check_plan_change(uow, subscription, now)
            subscription.cancel_at_period_end = False
            subscription.canceled_at = None
            subscription.scheduled_plan = None
            return await self._commit(uow, subscription, now)

    async def _commit(
        self, uow: UnitOfWork, subscription: Subscription, now: datetime
    ) -> SubscriptionView:
        """Save a change the user asked for, and answer with the result."""
        subscription.updated_at = now
        await uow.subscriptions.save(subscription)
        (view,) = await self._views(uow, [subscription])
        await uow.commit()
        return view
