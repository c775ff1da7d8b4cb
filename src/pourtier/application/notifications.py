"""In-app notifications: read yours, mark them read; and the renewal notices.

Before a renewal (`RENEWAL_NOTICE_DAYS`) the notice pass tells the
subscriber, once per period, that the renewal is coming
(`subscription.renewal_upcoming`) and, if the escrow's balance or the
delegate's allowance left will not cover it, by how much it falls short
(`escrow.balance_low`). The notification's unique `dedupe_key` is the "once":
a second worker's insert finds it and tells nothing, before any chain read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.application.subscription_charges import Billing, wallet_of
from pourtier.application.subscription_events import notify, tell
from pourtier.domain.errors import InvalidInput
from pourtier.domain.escrow import ChainUnavailable
from pourtier.domain.events import EventType
from pourtier.domain.money import format_usdc
from pourtier.domain.notifications import (
    NotificationKind,
    NotificationPage,
    RenewalDue,
    renewal_key,
)
from pourtier.domain.subscriptions import Subscription
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

RENEWAL_NOTICE = timedelta(days=3)
MAX_PER_PASS = 500
MAX_IDS = 500


@dataclass
class NotificationUseCases:
    uow: UnitOfWorkFactory
    clock: Clock

    async def page(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> NotificationPage:
        async with self.uow() as uow:
            return await uow.notifications.page(user_id, limit, offset)

    async def mark_read(self, user_id: uuid.UUID, ids: list[uuid.UUID] | None) -> int:
        """Only the caller's own: another user's ids change nothing."""
        if ids is not None and not ids:
            raise InvalidInput("name at least one notification, or all")
        if ids is not None and len(ids) > MAX_IDS:
            raise InvalidInput(f"at most {MAX_IDS} ids at once")
        async with self.uow() as uow:
            changed = await uow.notifications.mark_read(user_id, ids, self.clock())
            await uow.commit()
        return changed


@dataclass(frozen=True)
class Shortfall:
    balance: int
    allowance: int

    def short_by(self, amount: int) -> int:
        return max(0, amount - min(self.balance, self.allowance))


@dataclass
class RenewalNotices(Billing):
    notice: timedelta = RENEWAL_NOTICE
    max_per_pass: int = MAX_PER_PASS

    async def run_once(self) -> int:
        """One pass; returns how many renewals were announced.

        A chain outage ends the pass; the announcement it was making is
        rolled back and made on a later pass.
        """
        now = self.clock()
        async with self.uow() as uow:
            due = await uow.notifications.renewals_due(
                now, now + self.notice, self.max_per_pass
            )
        told = 0
        try:
            for item in due:
                async with self.uow() as uow:
                    if await self._announce(uow, item, now):
                        await uow.commit()
                        told += 1
        except ChainUnavailable as error:
            log.warning("chain unavailable; renewal notices wait", error=error.detail)
        return told

    async def _announce(self, uow: UnitOfWork, due: RenewalDue, now: datetime) -> bool:
        subscription = await uow.subscriptions.get(due.subscription_id)
        if (
            subscription is None
            or not subscription.status.is_live
            or subscription.current_period_end != due.period_end
        ):
            return False  # changed since the query
        end = subscription.current_period_end
        plan = self.plans[subscription.scheduled_plan or subscription.plan]
        price = format_usdc(plan.price)
        key = renewal_key(NotificationKind.RENEWAL_UPCOMING, subscription.id, end)
        if not await notify(
            uow,
            subscription,
            NotificationKind.RENEWAL_UPCOMING,
            now,
            "Renewal coming up",
            f"Your subscription renews on {end:%Y-%m-%d} at {price} USDC "
            f"({plan.name}).",
            key,
            renews_at=end,
            amount=price,
            next_plan=plan.name,
        ):
            return False  # told already, by this pass or another worker
        await tell(
            uow,
            EventType.SUBSCRIPTION_RENEWAL_UPCOMING,
            subscription,
            now,
            renews_at=end,
            next_plan=plan.name,
            amount=price,
        )
        funds = await self._funds(uow, subscription)
        short = funds.short_by(plan.price)
        if short:
            await self._balance_low(uow, subscription, funds, plan.price, short, now)
        return True

    async def _funds(self, uow: UnitOfWork, subscription: Subscription) -> Shortfall:
        """What the escrow can pay: balance and allowance less what is in flight
        (as `check_funds` judges a charge), 0 without a usable escrow."""
        wallet = await wallet_of(uow, subscription.user_id)
        state = await self.chain.escrow_state(wallet)
        if not state.exists or state.mint != self.chain.usdc_mint:
            return Shortfall(0, 0)
        user_id = subscription.user_id
        balance = state.balance - await uow.escrow.pending_debits(user_id)
        allowance = 0
        if state.delegate == self.chain.fee_authority:
            allowance = (
                state.delegated_amount
                - await uow.subscriptions.pending_charge_total(user_id)
            )
        return Shortfall(max(0, balance), max(0, allowance))

    async def _balance_low(
        self,
        uow: UnitOfWork,
        subscription: Subscription,
        funds: Shortfall,
        amount: int,
        short: int,
        now: datetime,
    ) -> None:
        end = subscription.current_period_end
        data = {
            "renews_at": end,
            "amount_due": format_usdc(amount),
            "balance": format_usdc(funds.balance),
            "allowance": format_usdc(funds.allowance),
            "shortfall": format_usdc(short),
            "balance_short": funds.balance < amount,
            "allowance_short": funds.allowance < amount,
        }
        key = renewal_key(NotificationKind.BALANCE_LOW, subscription.id, end)
        what = "deposit" if funds.balance < amount else "approve an allowance of"
        await notify(
            uow,
            subscription,
            NotificationKind.BALANCE_LOW,
            now,
            "Escrow short of the renewal",
            f"The renewal on {end:%Y-%m-%d} needs {format_usdc(amount)} USDC: "
            f"{what} {format_usdc(short)} USDC more before then.",
            key,
            **data,
        )
        await tell(uow, EventType.ESCROW_BALANCE_LOW, subscription, now, **data)
