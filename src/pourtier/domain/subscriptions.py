"""Basic/Pro subscriptions, paid per 30-day period from the user's escrow."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pourtier.domain.errors import Conflict, DomainError


class PaymentRequired(DomainError):
    """Escrow balance or allowance is short of the price."""


class PlanName(StrEnum):
    BASIC = "basic"
    PRO = "pro"


class SubscriptionStatus(StrEnum):
    PENDING = "pending"  # first charge in flight; no access yet
    ACTIVE = "active"
    PAST_DUE = "past_due"  # renewal failed; access through the grace period
    CANCELED = "canceled"
    EXPIRED = "expired"

    @property
    def is_live(self) -> bool:
        return self in (self.PENDING, self.ACTIVE, self.PAST_DUE)


class ChargeKind(StrEnum):
    INITIAL = "initial"
    RENEWAL = "renewal"
    UPGRADE = "upgrade"


class ChargeStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"


PERIOD = timedelta(days=30)
GRACE = timedelta(days=3)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Plan:
    name: PlanName
    price: int
    max_active_strategies: int | None
    features: tuple[str, ...]
    period: timedelta = PERIOD

    @property
    def rank(self) -> int:
        return 0 if self.name is PlanName.BASIC else 1

    @property
    def period_days(self) -> int:
        return self.period.days


def default_plans(basic_price: int, pro_price: int) -> dict[PlanName, Plan]:
    return {
        PlanName.BASIC: Plan(
            PlanName.BASIC, basic_price, 1, ("strategy_deployment", "basic_analytics")
        ),
        PlanName.PRO: Plan(
            PlanName.PRO,
            pro_price,
            None,
            (
                "strategy_deployment",
                "basic_analytics",
                "unlimited_strategies",
                "advanced_analytics",
                "priority_execution",
            ),
        ),
    }


def prorated_upgrade(
    from_plan: Plan,
    to_plan: Plan,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
) -> int:
    """Price difference for the rest of the period, rounded up to a base unit.

    Exact integer arithmetic on microseconds; `now` before the period counts
    as its start, after it as its end.
    """
    total = (period_end - period_start) // _MICROSECOND
    left = min(total, max(0, (period_end - now) // _MICROSECOND))
    difference = to_plan.price - from_plan.price
    if total <= 0 or difference <= 0:
        return 0
    return -(-(difference * left) // total)


@dataclass
class Subscription:
    user_id: uuid.UUID
    plan: PlanName
    status: SubscriptionStatus
    current_period_start: datetime
    current_period_end: datetime
    created_at: datetime
    updated_at: datetime
    auto_renew: bool = True
    cancel_at_period_end: bool = False
    scheduled_plan: PlanName | None = None
    canceled_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def access_until(self, grace: timedelta = GRACE) -> datetime:
        """Judged by dates, so a late scheduler never grants or denies wrongly."""
        if self.status in (SubscriptionStatus.PENDING, SubscriptionStatus.CANCELED):
            return self.current_period_start
        if self.status is SubscriptionStatus.EXPIRED:
            return min(self.current_period_end, self.updated_at)
        renewing = self.auto_renew and not self.cancel_at_period_end
        return self.current_period_end + (grace if renewing else timedelta(0))

    def has_access(self, now: datetime, grace: timedelta = GRACE) -> bool:
        return self.status in (
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.PAST_DUE,
        ) and now < self.access_until(grace)

    def check_plan_change(self, now: datetime, charge_in_flight: bool) -> None:
        """Conflict unless the plan (or the plan scheduled next) may change now.

        A period gets the plan its charge paid for, and a charge bills the plan
        as it stands when the charge is made. So the plan stays put while a
        charge of this subscription is being decided, and once the period has
        ended: its renewal is due (or overdue) and bills the plan as it is.
        Call with the subscription row locked, which every charge takes to be
        made or settled, so nothing changes between this check and the commit.
        """
        if charge_in_flight or self.status is SubscriptionStatus.PENDING:
            raise Conflict(
                "a charge of this subscription is in flight; change the plan "
                "once it settles"
            )
        if self.status is SubscriptionStatus.PAST_DUE:
            raise Conflict(
                "the renewal of this subscription is overdue: deposit into the "
                "escrow so it can be retried, and change the plan once it renews"
            )
        if now >= self.current_period_end:
            ended = f"the current period ended on {self.current_period_end.isoformat()}"
            if self.auto_renew and not self.cancel_at_period_end:
                raise Conflict(
                    f"{ended} and is being renewed; change the plan once it renews"
                )
            raise Conflict(
                f"{ended} and the subscription is ending; "
                "subscribe again once it has ended"
            )


@dataclass
class SubscriptionCharge:
    """One per subscription, kind and period: the database refuses a second.

    `plan` is what the charge pays for, fixed when it is made: its settlement
    grants that plan, whatever the subscription says by then.
    """

    subscription_id: uuid.UUID
    user_id: uuid.UUID
    kind: ChargeKind
    period_start: datetime
    amount: int
    plan: PlanName
    created_at: datetime
    status: ChargeStatus = ChargeStatus.PENDING
    escrow_transaction_id: uuid.UUID | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def of(
        cls,
        subscription: Subscription,
        kind: ChargeKind,
        period_start: datetime,
        plan: PlanName,
        amount: int,
        now: datetime,
    ) -> SubscriptionCharge:
        """The subscription's charge of `kind` for the period from
        `period_start`, not yet attempted."""
        return cls(
            subscription_id=subscription.id,
            user_id=subscription.user_id,
            kind=kind,
            period_start=period_start,
            amount=amount,
            plan=plan,
            created_at=now,
        )

    def attempt(self, transaction_id: uuid.UUID | None) -> None:
        """One more attempt: pending on its escrow transaction, or failed when
        none could be made (not enough funds)."""
        self.attempts += 1
        self.escrow_transaction_id = transaction_id
        self.status = (
            ChargeStatus.FAILED if transaction_id is None else ChargeStatus.PENDING
        )


class SubscriptionRepository(Protocol):
    async def add(self, subscription: Subscription) -> None: ...

    async def get(
        self, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> Subscription | None: ...

    async def save(self, subscription: Subscription) -> None: ...

    async def live_for_user(self, user_id: uuid.UUID) -> Subscription | None: ...

    async def list_for_user(
        self, user_id: uuid.UUID, status: SubscriptionStatus | None
    ) -> list[Subscription]: ...

    async def claim_due(
        self, now: datetime, limit: int, exclude: Collection[uuid.UUID] = ()
    ) -> list[Subscription]:
        """Live subscriptions whose period ended, FOR UPDATE SKIP LOCKED.

        Skipped: those whose renewal for that period is in flight, confirmed,
        or failed with its next attempt still ahead. The owner's user row is
        locked too (skipping users locked elsewhere), so the caller holds the
        same lock `EscrowRepository.lock_movements` takes, without ever waiting.
        `exclude` names rows this worker has already looked at in this pass.
        """
        ...

    async def add_charge(self, charge: SubscriptionCharge) -> bool:
        """False if this subscription already has a charge of this kind and period."""
        ...

    async def get_charge(
        self,
        subscription_id: uuid.UUID,
        kind: ChargeKind,
        period_start: datetime,
        *,
        for_update: bool = False,
    ) -> SubscriptionCharge | None: ...

    async def charge_for_transaction(
        self, escrow_transaction_id: uuid.UUID, *, for_update: bool = False
    ) -> SubscriptionCharge | None: ...

    async def save_charge(self, charge: SubscriptionCharge) -> None: ...

    async def charge_in_flight(self, subscription_id: uuid.UUID) -> bool:
        """Whether any charge of this subscription is pending."""
        ...

    async def count_active(self, now: datetime, grace: timedelta = GRACE) -> int:
        """Live subscriptions whose access has not ended by the dates."""
        ...

    async def pending_charge_total(self, user_id: uuid.UUID) -> int:
        """Charges in flight: the allowance they will use is not spendable."""
        ...

    async def charge_signatures(
        self, subscription_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """Signature of each subscription's latest charge not failed or expired."""
        ...

    async def idempotent_response(
        self, user_id: uuid.UUID, key: str
    ) -> tuple[str, str, dict[str, Any]] | None:
        """(request fingerprint, outcome, body) stored for this key, if any."""
        ...

    async def store_idempotent_response(
        self,
        user_id: uuid.UUID,
        key: str,
        fingerprint: str,
        outcome: str,
        body: dict[str, Any],
    ) -> None: ...
