"""Escrow transactions and the ledger on PostgreSQL.

Amounts are NUMERIC(20, 0) in the database (a u64 does not fit BIGINT) and
plain ints everywhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from pourtier.domain.errors import Conflict
from pourtier.domain.escrow import (
    EscrowCursor,
    EscrowTransaction,
    LedgerEntry,
    TransactionStatus,
    TransactionType,
)
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entity,
)
from pourtier.infrastructure.persistence.models.escrow import (
    EscrowCursorRow,
    EscrowTransactionRow,
    LedgerEntryRow,
)
from pourtier.infrastructure.persistence.models.users import UserRow

DEBITS = (TransactionType.WITHDRAW.value, TransactionType.SUBSCRIPTION_CHARGE.value)
DEPOSITS = (TransactionType.DEPOSIT, TransactionType.EXTERNAL_DEPOSIT)
SENT = (TransactionStatus.PENDING, TransactionStatus.CONFIRMED)
UNSENT = (TransactionStatus.PREPARED.value, TransactionStatus.EXPIRED.value)
ERROR_MAX_LENGTH = 500
_LIFECYCLE = (
    "status",
    "signed_transaction",
    "signature",
    "submitted_at",
    "confirmed_at",
)
"""What changes after a transaction is prepared; what was prepared never does."""


def _error_text(error: str | None) -> str | None:
    return error[:ERROR_MAX_LENGTH] if error else error


def _columns(t: EscrowTransaction, only: tuple[str, ...] = ()) -> dict[str, object]:
    return to_columns(t, only=only) | {"error": _error_text(t.error)}


class SqlEscrowRepository(SqlRepository):
    async def lock_movements(self, user_id: uuid.UUID) -> None:
        await self._session.execute(
            select(UserRow.id).where(UserRow.id == user_id).with_for_update()
        )

    async def add(self, transaction: EscrowTransaction) -> None:
        row = EscrowTransactionRow(**_columns(transaction))
        await self._add_new(row, "this transaction is already recorded")

    async def get(
        self, transaction_id: uuid.UUID, *, for_update: bool = False
    ) -> EscrowTransaction | None:
        found = EscrowTransactionRow.id
        return await self._by(EscrowTransaction, found, transaction_id, for_update)

    async def get_by_signature(self, signature: str) -> EscrowTransaction | None:
        row = await self._session.scalar(
            select(EscrowTransactionRow).where(
                EscrowTransactionRow.signature == signature
            )
        )
        return to_entity(EscrowTransaction, row) if row else None

    async def save(self, transaction: EscrowTransaction) -> None:
        t = transaction
        try:
            await self._session.execute(
                update(EscrowTransactionRow)
                .where(EscrowTransactionRow.id == t.id)
                .values(_columns(t, only=_LIFECYCLE))
                .execution_options(synchronize_session=False)
            )
        except IntegrityError:
            raise Conflict(
                "this signed transaction was already submitted for another "
                "prepared transaction"
            ) from None

    async def list_for_user(
        self, user_id: uuid.UUID, type: TransactionType | None, limit: int, offset: int
    ) -> list[EscrowTransaction]:
        query = select(EscrowTransactionRow).where(
            EscrowTransactionRow.user_id == user_id
        )
        if type is not None:
            query = query.where(EscrowTransactionRow.type == type.value)
        return await self._all(
            EscrowTransaction,
            query.order_by(
                EscrowTransactionRow.created_at.desc(), EscrowTransactionRow.id
            )
            .limit(limit)
            .offset(offset),
        )

    async def claim_pending(
        self, limit: int, exclude: Collection[uuid.UUID] = ()
    ) -> list[EscrowTransaction]:
        query = select(EscrowTransactionRow).where(
            EscrowTransactionRow.status == TransactionStatus.PENDING.value
        )
        if exclude:
            query = query.where(EscrowTransactionRow.id.not_in(list(exclude)))
        return await self._all(
            EscrowTransaction,
            query.order_by(EscrowTransactionRow.submitted_at, EscrowTransactionRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True),
        )

    async def oldest_pending_since(self) -> datetime | None:
        row = EscrowTransactionRow
        sent = func.coalesce(row.submitted_at, row.created_at)
        query = select(func.min(sent)).where(
            row.status == TransactionStatus.PENDING.value
        )
        oldest: datetime | None = await self._session.scalar(query)
        return oldest

    async def expire_prepared(self, before: datetime) -> int:
        result = await self._session.execute(
            update(EscrowTransactionRow)
            .where(
                EscrowTransactionRow.status == TransactionStatus.PREPARED.value,
                EscrowTransactionRow.expires_at <= before,
            )
            .values(
                status=TransactionStatus.EXPIRED.value,
                error="never signed and submitted before it expired",
            )
            .returning(EscrowTransactionRow.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())

    async def add_ledger_entry(self, entry: LedgerEntry) -> bool:
        return await self._insert_unless_there(
            LedgerEntryRow, to_columns(entry), ["escrow_transaction_id"]
        )

    async def ledger_balance(self, user_id: uuid.UUID) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(LedgerEntryRow.delta), 0)).where(
                LedgerEntryRow.user_id == user_id
            )
        )
        return int(total or 0)

    async def pending_debits(self, user_id: uuid.UUID) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(EscrowTransactionRow.amount), 0)).where(
                EscrowTransactionRow.user_id == user_id,
                EscrowTransactionRow.status == TransactionStatus.PENDING.value,
                EscrowTransactionRow.type.in_(DEBITS),
            )
        )
        return int(total or 0)

    async def deposited(self, user_id: uuid.UUID) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(EscrowTransactionRow.amount), 0)).where(
                EscrowTransactionRow.user_id == user_id,
                EscrowTransactionRow.status.in_(SENT),
                EscrowTransactionRow.type.in_(DEPOSITS),
            )
        )
        return int(total or 0)

    async def has_pending(self, user_id: uuid.UUID, type: TransactionType) -> bool:
        """A transaction of this type signed and sent but not final yet."""
        found = await self._session.scalar(
            select(EscrowTransactionRow.id)
            .where(
                EscrowTransactionRow.user_id == user_id,
                EscrowTransactionRow.type == type.value,
                EscrowTransactionRow.status == TransactionStatus.PENDING.value,
            )
            .limit(1)
        )
        return found is not None

    # --- movements made without the service ------------------------------------

    async def add_external(self, transaction: EscrowTransaction) -> bool:
        return await self._insert_unless_there(
            EscrowTransactionRow, _columns(transaction), ["signature"]
        )

    async def find_unsent(
        self, user_id: uuid.UUID, unsigned_transaction: bytes
    ) -> EscrowTransaction | None:
        row = await self._session.scalar(
            select(EscrowTransactionRow)
            .where(
                EscrowTransactionRow.user_id == user_id,
                EscrowTransactionRow.status.in_(UNSENT),
                EscrowTransactionRow.signature.is_(None),
                EscrowTransactionRow.prepared_transaction == unsigned_transaction,
            )
            .limit(1)
            .with_for_update()
        )
        return to_entity(EscrowTransaction, row) if row else None

    async def add_cursor(self, user_id: uuid.UUID, after_signature: str) -> None:
        await self._session.execute(
            insert(EscrowCursorRow)
            .values(user_id=user_id, last_signature=after_signature, read_at=None)
            .on_conflict_do_nothing(index_elements=["user_id"])
        )

    async def claim_cursor(
        self, read_before: datetime, exclude: Collection[uuid.UUID] = ()
    ) -> EscrowCursor | None:
        cursor = EscrowCursorRow
        query = (
            select(cursor, UserRow.wallet_address)
            .join(UserRow, UserRow.id == cursor.user_id)
            .where(or_(cursor.read_at.is_(None), cursor.read_at < read_before))
        )
        if exclude:
            query = query.where(cursor.user_id.not_in(list(exclude)))
        found = (
            await self._session.execute(
                query.order_by(cursor.read_at.asc().nulls_first(), cursor.user_id)
                .limit(1)
                .with_for_update(of=cursor, skip_locked=True)
            )
        ).first()
        if found is None:
            return None
        row, wallet = found
        return EscrowCursor(row.user_id, wallet, row.last_signature, row.read_at)

    async def save_cursor(self, cursor: EscrowCursor) -> None:
        await self._session.execute(
            update(EscrowCursorRow)
            .where(EscrowCursorRow.user_id == cursor.user_id)
            .values(last_signature=cursor.last_signature, read_at=cursor.read_at)
            .execution_options(synchronize_session=False)
        )
