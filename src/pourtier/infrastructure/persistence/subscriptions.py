"""Subscriptions, their charges and idempotent answers on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert

from pourtier.domain.cache import live_subscription_key
from pourtier.domain.subscriptions import (
    GRACE,
    ChargeKind,
    ChargeStatus,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entity,
)
from pourtier.infrastructure.persistence.models.escrow import EscrowTransactionRow
from pourtier.infrastructure.persistence.models.subscriptions import (
    IdempotencyKeyRow,
    SubscriptionChargeRow,
    SubscriptionRow,
)
from pourtier.infrastructure.persistence.models.users import UserRow

LIVE = [s.value for s in SubscriptionStatus if s.is_live]


class SqlSubscriptionRepository(SqlRepository):
    async def add(self, subscription: Subscription) -> None:
        """Conflict if the user already has a live one (a partial unique index)."""
        self._changed.add(live_subscription_key(subscription.user_id))
        row = SubscriptionRow(**to_columns(subscription))
        await self._add_new(row, "you already have a live subscription")

    async def get(
        self, subscription_id: uuid.UUID, *, for_update: bool = False
    ) -> Subscription | None:
        found = SubscriptionRow.id
        return await self._by(Subscription, found, subscription_id, for_update)

    async def save(self, subscription: Subscription) -> None:
        self._changed.add(live_subscription_key(subscription.user_id))
        await self._session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription.id)
            .values(to_columns(subscription))
            .execution_options(synchronize_session=False)
        )

    async def live_for_user(self, user_id: uuid.UUID) -> Subscription | None:
        """One lookup on the partial unique index of live subscriptions."""
        row = await self._session.scalar(
            select(SubscriptionRow)
            .where(SubscriptionRow.user_id == user_id, SubscriptionRow.status.in_(LIVE))
            .execution_options(populate_existing=True)
        )
        return to_entity(Subscription, row) if row else None

    async def list_for_user(
        self, user_id: uuid.UUID, status: SubscriptionStatus | None
    ) -> list[Subscription]:
        query = select(SubscriptionRow).where(SubscriptionRow.user_id == user_id)
        if status is not None:
            query = query.where(SubscriptionRow.status == status.value)
        return await self._all(
            Subscription,
            query.order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id),
        )

    async def claim_due(
        self, now: datetime, limit: int, exclude: Collection[uuid.UUID] = ()
    ) -> list[Subscription]:
        renewal = SubscriptionChargeRow
        waiting = or_(
            renewal.id.is_(None),
            and_(
                renewal.status == ChargeStatus.FAILED.value,
                or_(
                    renewal.next_attempt_at.is_(None),
                    renewal.next_attempt_at <= now,
                ),
            ),
        )
        query = (
            select(SubscriptionRow)
            .join(UserRow, UserRow.id == SubscriptionRow.user_id)
            .outerjoin(
                renewal,
                and_(
                    renewal.subscription_id == SubscriptionRow.id,
                    renewal.kind == ChargeKind.RENEWAL.value,
                    renewal.period_start == SubscriptionRow.current_period_end,
                ),
            )
            .where(
                SubscriptionRow.status.in_(
                    [SubscriptionStatus.ACTIVE.value, SubscriptionStatus.PAST_DUE.value]
                ),
                SubscriptionRow.current_period_end <= now,
                waiting,
                SubscriptionRow.id.not_in(list(exclude)) if exclude else true(),
            )
            .order_by(SubscriptionRow.current_period_end)
            .limit(limit)
            .with_for_update(of=[SubscriptionRow, UserRow], skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return await self._all(Subscription, query)

    async def add_charge(self, charge: SubscriptionCharge) -> bool:
        return await self._insert_unless_there(
            SubscriptionChargeRow,
            to_columns(charge),
            ["subscription_id", "kind", "period_start"],
        )

    async def _charge(
        self, where: list[ColumnElement[bool]], for_update: bool
    ) -> SubscriptionCharge | None:
        query = select(SubscriptionChargeRow).where(*where)
        return await self._one(SubscriptionCharge, query, for_update)

    async def get_charge(
        self,
        subscription_id: uuid.UUID,
        kind: ChargeKind,
        period_start: datetime,
        *,
        for_update: bool = False,
    ) -> SubscriptionCharge | None:
        return await self._charge(
            [
                SubscriptionChargeRow.subscription_id == subscription_id,
                SubscriptionChargeRow.kind == kind.value,
                SubscriptionChargeRow.period_start == period_start,
            ],
            for_update,
        )

    async def charge_for_transaction(
        self, escrow_transaction_id: uuid.UUID, *, for_update: bool = False
    ) -> SubscriptionCharge | None:
        return await self._charge(
            [SubscriptionChargeRow.escrow_transaction_id == escrow_transaction_id],
            for_update,
        )

    async def save_charge(self, charge: SubscriptionCharge) -> None:
        await self._session.execute(
            update(SubscriptionChargeRow)
            .where(SubscriptionChargeRow.id == charge.id)
            .values(to_columns(charge))
            .execution_options(synchronize_session=False)
        )

    async def charge_in_flight(self, subscription_id: uuid.UUID) -> bool:
        return bool(
            await self._session.scalar(
                select(
                    select(SubscriptionChargeRow.id)
                    .where(
                        SubscriptionChargeRow.subscription_id == subscription_id,
                        SubscriptionChargeRow.status == ChargeStatus.PENDING.value,
                    )
                    .exists()
                )
            )
        )

    async def count_active(self, now: datetime, grace: timedelta = GRACE) -> int:
        """ACTIVE or PAST_DUE with access left by the dates (see access_until)."""
        renewing = and_(
            SubscriptionRow.auto_renew.is_(True),
            SubscriptionRow.cancel_at_period_end.is_(False),
        )
        return int(
            await self._session.scalar(
                select(func.count()).where(
                    SubscriptionRow.status.in_(
                        [
                            SubscriptionStatus.ACTIVE.value,
                            SubscriptionStatus.PAST_DUE.value,
                        ]
                    ),
                    or_(
                        SubscriptionRow.current_period_end > now,
                        and_(
                            renewing, SubscriptionRow.current_period_end > now - grace
                        ),
                    ),
                )
            )
            or 0
        )

    async def pending_charge_total(self, user_id: uuid.UUID) -> int:
        return int(
            await self._session.scalar(
                select(func.coalesce(func.sum(SubscriptionChargeRow.amount), 0)).where(
                    SubscriptionChargeRow.user_id == user_id,
                    SubscriptionChargeRow.status == ChargeStatus.PENDING.value,
                )
            )
            or 0
        )

    async def charge_signatures(
        self, subscription_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        if not subscription_ids:
            return {}
        tx = EscrowTransactionRow
        rows = await self._session.execute(
            select(SubscriptionChargeRow.subscription_id, tx.signature)
            .join(tx, tx.id == SubscriptionChargeRow.escrow_transaction_id)
            .where(
                SubscriptionChargeRow.subscription_id.in_(subscription_ids),
                SubscriptionChargeRow.status != ChargeStatus.FAILED.value,
                tx.signature.is_not(None),
            )
            .order_by(tx.created_at.desc())
        )
        latest: dict[uuid.UUID, str] = {}
        for sub_id, signature in rows:
            if signature:
                latest.setdefault(sub_id, signature)
        return latest

    async def idempotent_response(
        self, user_id: uuid.UUID, key: str
    ) -> tuple[str, str, dict[str, Any]] | None:
        row = await self._session.scalar(
            select(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.user_id == user_id, IdempotencyKeyRow.key == key)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return row.fingerprint, row.outcome, dict(row.body)

    async def store_idempotent_response(
        self,
        user_id: uuid.UUID,
        key: str,
        fingerprint: str,
        outcome: str,
        body: dict[str, Any],
    ) -> None:
        """Insert, or replace the answer stored for this key."""
        statement = insert(IdempotencyKeyRow).values(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            outcome=outcome,
            body=body,
            created_at=func.now(),
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "key"],
                set_={"outcome": outcome, "body": body},
            )
        )
