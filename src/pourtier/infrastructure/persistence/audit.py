"""The audit log on PostgreSQL: inserted and read, never changed."""

from __future__ import annotations

import contextlib
import uuid

from sqlalchemy import ColumnElement, or_, select

from pourtier.domain.audit import ActorType, AuditEntry, AuditQuery
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
)
from pourtier.infrastructure.persistence.models.audit import AuditLogRow


class SqlAuditLog(SqlRepository):
    async def append(self, entry: AuditEntry) -> None:
        self._session.add(AuditLogRow(**to_columns(entry)))
        await self._session.flush()

    async def find(self, query: AuditQuery) -> list[AuditEntry]:
        statement = select(AuditLogRow)
        if query.action:
            statement = statement.where(AuditLogRow.action == query.action)
        if query.actor:
            statement = statement.where(or_(*_actor_matches(query.actor)))
        return await self._all(
            AuditEntry,
            statement.order_by(AuditLogRow.occurred_at.desc(), AuditLogRow.id)
            .limit(query.limit)
            .offset(query.offset),
        )


def _actor_matches(actor: str) -> list[ColumnElement[bool]]:
    """A user id, a wallet, or an actor type (`cli`)."""
    matches: list[ColumnElement[bool]] = [AuditLogRow.actor_wallet == actor]
    if actor in {t.value for t in ActorType}:
        matches.append(AuditLogRow.actor_type == actor)
    with contextlib.suppress(ValueError):
        matches.append(AuditLogRow.actor_id == uuid.UUID(actor))
    return matches
