"""What a subscription's changes tell: outbox events and in-app notifications.

Every function here runs in the unit of work of the change it reports, so the
event and the notification commit with it or not at all. The subject of every
subscription and payment event is `("subscription", id)`: a consumer gets a
subscription's activation, payments, renewals and end in commit order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pourtier.domain.escrow import EscrowTransaction, TransactionStatus
from pourtier.domain.events import Event, EventType
from pourtier.domain.money import format_usdc
from pourtier.domain.notifications import Notification, NotificationKind
from pourtier.domain.subscriptions import (
    PlanName,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from pourtier.domain.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Before:
    """What a subscription was before a change: the events tell the difference."""

    status: SubscriptionStatus
    plan: PlanName
    period_end: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> Before:
        return cls(
            subscription.status, subscription.plan, subscription.current_period_end
        )


def about(subscription: Subscription) -> dict[str, Any]:
    """The data every subscription event carries."""
    return {
        "subscription_id": subscription.id,
        "user_id": subscription.user_id,
        "plan": subscription.plan,
        "status": subscription.status,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "auto_renew": subscription.auto_renew,
        "cancel_at_period_end": subscription.cancel_at_period_end,
    }


async def tell(
    uow: UnitOfWork,
    type: EventType,
    subscription: Subscription,
    now: datetime,
    **data: Any,
) -> None:
    await uow.outbox.add(
        Event.of(
            type, ("subscription", subscription.id), now, **about(subscription), **data
        )
    )


async def notify(
    uow: UnitOfWork,
    subscription: Subscription,
    kind: NotificationKind,
    now: datetime,
    title: str,
    body: str,
    dedupe_key: str | None = None,
    **data: Any,
) -> bool:
    """An in-app notification to the subscriber; False if already told."""
    return await uow.notifications.add(
        Notification.of(
            subscription.user_id,
            kind,
            now,
            title,
            body,
            dedupe_key,
            subscription_id=subscription.id,
            plan=subscription.plan,
            **data,
        )
    )


async def transitions(
    uow: UnitOfWork, subscription: Subscription, before: Before, now: datetime
) -> None:
    """The events (and notices) of a change of status, plan or period."""
    status = subscription.status
    if status is not before.status:
        if status is SubscriptionStatus.ACTIVE and (
            before.status is SubscriptionStatus.PENDING
        ):
            await tell(uow, EventType.SUBSCRIPTION_ACTIVATED, subscription, now)
        elif status is SubscriptionStatus.PAST_DUE:
            await tell(uow, EventType.SUBSCRIPTION_PAST_DUE, subscription, now)
            await notify(
                uow,
                subscription,
                NotificationKind.PAST_DUE,
                now,
                "Subscription past due",
                f"The renewal of your {subscription.plan} subscription could not "
                "be charged; fund the escrow before the grace period ends.",
            )
        elif status is SubscriptionStatus.CANCELED:
            await tell(uow, EventType.SUBSCRIPTION_CANCELED, subscription, now)
        elif status is SubscriptionStatus.EXPIRED:
            await tell(uow, EventType.SUBSCRIPTION_EXPIRED, subscription, now)
            if before.status is not SubscriptionStatus.PENDING:  # was ever live
                await notify(
                    uow,
                    subscription,
                    NotificationKind.EXPIRED,
                    now,
                    "Subscription expired",
                    f"Your {subscription.plan} subscription has ended.",
                )
    if subscription.current_period_end > before.period_end and (
        status is SubscriptionStatus.ACTIVE
    ):
        await tell(
            uow,
            EventType.SUBSCRIPTION_RENEWED,
            subscription,
            now,
            previous_period_end=before.period_end,
        )
    if subscription.plan is not before.plan and before.status.is_live:
        await tell(
            uow,
            EventType.SUBSCRIPTION_PLAN_CHANGED,
            subscription,
            now,
            previous_plan=before.plan,
        )


async def payment(
    uow: UnitOfWork,
    subscription: Subscription,
    charge: SubscriptionCharge,
    transaction: EscrowTransaction | None,
    now: datetime,
    reason: str | None = None,
) -> None:
    """`payment.completed` or `payment.failed` for a charge just decided."""
    completed = (
        transaction is not None and transaction.status is TransactionStatus.CONFIRMED
    )
    amount = format_usdc(charge.amount)
    data: dict[str, Any] = {
        "charge_id": charge.id,
        "kind": charge.kind,
        "charged_plan": charge.plan,
        "amount": amount,
        "currency": "USDC",
        "period_start": charge.period_start,
        "attempts": charge.attempts,
        "escrow_transaction_id": transaction and transaction.id,
        "signature": transaction and transaction.signature,
    }
    if completed:
        await tell(uow, EventType.PAYMENT_COMPLETED, subscription, now, **data)
        await notify(
            uow,
            subscription,
            NotificationKind.PAYMENT_COMPLETED,
            now,
            "Payment received",
            f"{amount} USDC charged for your {charge.plan} subscription "
            f"({charge.kind.value}).",
            amount=amount,
            signature=data["signature"],
        )
        return
    why = reason or (transaction and transaction.error) or "the charge failed"
    await tell(uow, EventType.PAYMENT_FAILED, subscription, now, reason=why, **data)
    await notify(
        uow,
        subscription,
        NotificationKind.PAYMENT_FAILED,
        now,
        "Payment failed",
        f"The {amount} USDC charge for your {charge.plan} subscription failed: {why}",
        amount=amount,
        reason=why,
    )
