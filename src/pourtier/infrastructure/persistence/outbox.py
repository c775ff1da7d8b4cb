"""The transactional outbox on PostgreSQL.

A subject's counter row is bumped with `INSERT ... ON CONFLICT DO UPDATE`,
which holds its lock until the transaction ends: two transactions adding
events about one subject take their numbers in commit order, and a rolled
back one gives its number back.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text

from pourtier.domain.events import Event
from pourtier.infrastructure.persistence.mapping import SqlRepository, to_columns
from pourtier.infrastructure.persistence.models import OutboxEventRow

_NEXT = text(
    """
INSERT INTO event_subjects (subject_type, subject_id, last_sequence)
VALUES (:subject_type, :subject_id, 1)
ON CONFLICT (subject_type, subject_id)
DO UPDATE SET last_sequence = event_subjects.last_sequence + 1
RETURNING last_sequence
"""
)


class SqlOutbox(SqlRepository):
    async def add(self, event: Event) -> Event:
        subject = {"subject_type": event.subject_type, "subject_id": event.subject_id}
        sequence = (await self._session.execute(_NEXT, subject)).scalar_one()
        numbered = replace(event, sequence=int(sequence))
        self._session.add(OutboxEventRow(**to_columns(numbered)))
        await self._session.flush()
        return numbered
