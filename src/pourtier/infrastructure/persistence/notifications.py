"""Notifications on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from pourtier.domain.notifications import (
    Notification,
    NotificationKind,
    NotificationPage,
    RenewalDue,
)
from pourtier.infrastructure.persistence.mapping import SqlRepository, to_columns
from pourtier.infrastructure.persistence.models.legal import LegalAcceptanceRow
from pourtier.infrastructure.persistence.models.notifications import NotificationRow
from pourtier.infrastructure.persistence.models.subscriptions import SubscriptionRow

LIVE = ("active", "past_due")


class SqlNotificationRepository(SqlRepository):
    async def add(self, notification: Notification) -> bool:
        return await self._insert_unless_there(
            NotificationRow, to_columns(notification), ["dedupe_key"]
        )

    async def add_for_acceptors(
        self, document_id: uuid.UUID, template: Notification
    ) -> int:
        """One statement: a notification per acceptor, each with a new id."""
        acceptors = (
            select(
                func.gen_random_uuid(),
                LegalAcceptanceRow.user_id,
                *(
                    literal(value, NotificationRow.__table__.c[name].type)
                    for name, value in _shared(template).items()
                ),
            )
            .where(LegalAcceptanceRow.document_id == document_id)
            .distinct()
        )
        names = ["id", "user_id", *_shared(template)]
        result = await self._session.execute(
            insert(NotificationRow)
            .from_select(names, acceptors)
            .returning(NotificationRow.id)
        )
        return len(result.all())

    async def page(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> NotificationPage:
        mine = NotificationRow.user_id == user_id
        counts = (
            await self._session.execute(
                select(
                    func.count(),
                    func.count().filter(NotificationRow.read_at.is_(None)),
                ).where(mine)
            )
        ).one()
        items = await self._all(
            Notification,
            select(NotificationRow)
            .where(mine)
            .order_by(NotificationRow.created_at.desc(), NotificationRow.id.desc())
            .limit(limit)
            .offset(offset),
        )
        return NotificationPage(items, int(counts[0]), int(counts[1]))

    async def mark_read(
        self, user_id: uuid.UUID, ids: list[uuid.UUID] | None, now: datetime
    ) -> int:
        where = [NotificationRow.user_id == user_id, NotificationRow.read_at.is_(None)]
        if ids is not None:
            where.append(NotificationRow.id.in_(ids))
        result = await self._session.execute(
            update(NotificationRow)
            .where(*where)
            .values(read_at=now)
            .returning(NotificationRow.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

    async def renewals_due(
        self, now: datetime, until: datetime, limit: int
    ) -> list[RenewalDue]:
        s = SubscriptionRow
        key = func.concat(
            NotificationKind.RENEWAL_UPCOMING.value + ":",
            cast(s.id, String),
            ":",
            cast(func.floor(func.extract("epoch", s.current_period_end)), BigInteger),
        )
        told = exists().where(NotificationRow.dedupe_key == key)
        rows = await self._session.execute(
            select(s.id, s.user_id, s.current_period_end)
            .where(
                s.status.in_(LIVE),
                s.auto_renew.is_(True),
                s.cancel_at_period_end.is_(False),
                and_(s.current_period_end >= now, s.current_period_end < until),
                ~told,
            )
            .order_by(s.current_period_end)
            .limit(limit)
        )
        return [RenewalDue(*row) for row in rows]


def _shared(template: Notification) -> dict[str, object]:
    """The template's columns every copy shares."""
    columns = to_columns(template)
    return {k: v for k, v in columns.items() if k not in ("id", "user_id")}
