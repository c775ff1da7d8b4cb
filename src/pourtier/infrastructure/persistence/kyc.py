"""KYC cases and their event log on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from pourtier.domain.kyc import KycCase, KycEvent
from pourtier.domain.users import KycStatus
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
)
from pourtier.infrastructure.persistence.models.kyc import KycCaseRow, KycEventRow

WAITING = (KycStatus.PENDING, KycStatus.IN_REVIEW)


class SqlKycRepository(SqlRepository):
    async def get(
        self, user_id: uuid.UUID, *, for_update: bool = False
    ) -> KycCase | None:
        return await self._by(KycCase, KycCaseRow.user_id, user_id, for_update)

    async def save(self, case: KycCase) -> None:
        values = to_columns(case)
        await self._session.execute(
            insert(KycCaseRow)
            .values(values)
            .on_conflict_do_update(index_elements=["user_id"], set_=values)
        )

    async def add_event(self, event: KycEvent) -> bool:
        values = to_columns(event)
        return await self._insert_unless_there(KycEventRow, values, ["event_id"])

    async def events(self, user_id: uuid.UUID) -> list[KycEvent]:
        return await self._all(
            KycEvent,
            select(KycEventRow)
            .where(KycEventRow.user_id == user_id)
            .order_by(KycEventRow.recorded_at, KycEventRow.occurred_at),
        )

    async def queue(self, status: KycStatus, limit: int, offset: int) -> list[KycCase]:
        return await self._all(
            KycCase,
            select(KycCaseRow)
            .where(KycCaseRow.status == status)
            .order_by(KycCaseRow.status_at.asc().nulls_first(), KycCaseRow.user_id)
            .limit(limit)
            .offset(offset),
        )

    async def stale(self, provider: str, before: datetime, limit: int) -> list[KycCase]:
        return await self._all(
            KycCase,
            select(KycCaseRow)
            .where(
                KycCaseRow.provider == provider,
                KycCaseRow.status.in_(WAITING),
                KycCaseRow.applicant_id.is_not(None),
                KycCaseRow.updated_at < before,
            )
            .order_by(KycCaseRow.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True),
        )
