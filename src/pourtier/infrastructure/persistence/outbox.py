"""The transactional outbox on PostgreSQL.

A subject's counter row is bumped with `INSERT ... ON CONFLICT DO UPDATE`,
which holds its lock until the transaction ends: two transactions adding
events about one subject take their numbers in commit order, and a rolled
back one gives its number back.

With the event, in the same transaction and one statement, go its deliveries:
one to Courier when the service has a Courier URL, and one to each enabled
webhook endpoint subscribed to its type (see domain/deliveries.py). Fanning out
here, rather than from a cursor per sink, keeps the relay to a single claim
query and makes each (event, sink) pair a row whose state operators can read.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pourtier.domain.deliveries import COURIER, DeliveryStatus
from pourtier.domain.events import Event
from pourtier.infrastructure.persistence.mapping import SqlRepository, to_columns
from pourtier.infrastructure.persistence.models.events import OutboxEventRow

_NEXT = text(
    """
INSERT INTO event_subjects (subject_type, subject_id, last_sequence)
VALUES (:subject_type, :subject_id, 1)
ON CONFLICT (subject_type, subject_id)
DO UPDATE SET last_sequence = event_subjects.last_sequence + 1
RETURNING last_sequence
"""
)

_FAN_OUT = text(
    """
INSERT INTO event_deliveries (event_id, sink, endpoint_id, subject_type,
    subject_id, sequence, status, attempts, next_attempt_at)
SELECT :event_id, sink, endpoint_id, :subject_type, :subject_id, :sequence,
    :pending, 0, :due
FROM (
    SELECT :courier AS sink, NULL::uuid AS endpoint_id WHERE :to_courier
    UNION ALL
    SELECT id::text, id FROM webhook_endpoints
    WHERE enabled AND (cardinality(event_types) = 0 OR :type = ANY(event_types))
) AS sinks
"""
)


class SqlOutbox(SqlRepository):
    def __init__(self, session: AsyncSession, courier: bool = False) -> None:
        super().__init__(session)
        self._courier = courier

    async def add(self, event: Event) -> Event:
        subject = {"subject_type": event.subject_type, "subject_id": event.subject_id}
        sequence = (await self._session.execute(_NEXT, subject)).scalar_one()
        numbered = replace(event, sequence=int(sequence))
        self._session.add(OutboxEventRow(**to_columns(numbered)))
        await self._session.flush()
        await self._session.execute(
            _FAN_OUT,
            {
                **subject,
                "event_id": numbered.id,
                "sequence": numbered.sequence,
                "type": numbered.type.value,
                "pending": DeliveryStatus.PENDING.value,
                "due": numbered.occurred_at,
                "courier": COURIER,
                "to_courier": self._courier,
            },
        )
        return numbered
