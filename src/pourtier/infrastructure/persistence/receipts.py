"""Receipts on PostgreSQL, numbered by a counter row held until commit.

`INSERT ... ON CONFLICT DO UPDATE` on the counter locks its row until the
transaction ends, so receipts take their numbers in commit order and a
rolled-back settlement gives its number back: the book has no gaps. The
cost is that settlements issuing receipts commit one after another.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select, text

from pourtier.domain.receipts import Receipt
from pourtier.infrastructure.persistence.mapping import SqlRepository, to_columns
from pourtier.infrastructure.persistence.models.receipts import ReceiptRow

BOOK = "receipts"
_NEXT = text(
    """
INSERT INTO receipt_counters (name, last_sequence)
VALUES (:name, 1)
ON CONFLICT (name)
DO UPDATE SET last_sequence = receipt_counters.last_sequence + 1
RETURNING last_sequence
"""
)


class SqlReceiptRepository(SqlRepository):
    async def issue(self, receipt: Receipt) -> Receipt:
        sequence = (await self._session.execute(_NEXT, {"name": BOOK})).scalar_one()
        numbered = replace(receipt, sequence=int(sequence))
        await self._add_new(
            ReceiptRow(**to_columns(numbered)), "this charge already has a receipt"
        )
        return numbered

    async def for_charge(self, charge_id: uuid.UUID) -> Receipt | None:
        return await self._by(Receipt, ReceiptRow.charge_id, charge_id)

    async def get(self, receipt_id: uuid.UUID) -> Receipt | None:
        return await self._by(Receipt, ReceiptRow.id, receipt_id)

    async def list_for_user(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> list[Receipt]:
        query = (
            select(ReceiptRow)
            .where(ReceiptRow.user_id == user_id)
            .order_by(ReceiptRow.issued_at.desc(), ReceiptRow.sequence.desc())
            .limit(limit)
            .offset(offset)
        )
        return await self._all(Receipt, query)
