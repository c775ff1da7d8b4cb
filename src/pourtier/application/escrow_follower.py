"""Follow every sent escrow transaction to a final state, every escrow's
history on chain, and keep the ledger.

All state is in the database: a worker holds nothing between passes, so a
restart simply picks the pending rows up again. Each row is claimed with
FOR UPDATE SKIP LOCKED inside its own unit of work, so any number of workers
(in the API processes or `pourtier worker`) share the work without doing any
of it twice, and the ledger's unique index guarantees one entry per
transaction even if they tried.

The escrow is the user's own token account, so money also moves without the
service. Each pass therefore also reads the history of up to `watch_batch`
escrows (those read longest ago, each at most once per `watch_interval`),
from a per-escrow cursor, and records every finalized movement whose
signature is not one of the service's transactions, in whatever state, as an
external deposit or withdrawal: confirmed at once, one ledger entry, the same
settlement hooks as any other. The signature is unique in the database, so a
movement is recorded once however many workers read it. A transaction this
service prepared that the wallet sent itself, before submitting it here, is
not external: it is adopted and settled as the service's own.

Cost on a JSON-RPC node, with E escrows: at most min(watch_batch, E /
watch_interval) getSignaturesForAddress calls a second (one per 1000 new
signatures of an escrow), plus one getTransaction per new successful
transaction of an escrow, the service's own included.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory, isolated
from pourtier.domain.escrow import (
    Chain,
    ChainMovement,
    ChainRejected,
    ChainUnavailable,
    Commitment,
    EscrowCursor,
    EscrowTransaction,
    LedgerEntry,
    TransactionStatus,
    TransactionType,
)
from pourtier.domain.events import Event, EventType
from pourtier.domain.money import format_usdc
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

SettlementHook = Callable[[UnitOfWork, EscrowTransaction], Awaitable[None]]
"""Called for every final state (confirmed, failed, expired) of a sent
transaction, in the settling unit of work, after the row and ledger entry are
written; raising rolls the settlement back and it is retried on the next pass."""

MAX_PER_PASS = 500
WATCH_BATCH = 100  # escrows whose history one pass reads, at most
WATCH_INTERVAL = timedelta(seconds=30)  # each escrow's history, at most this often
MOVEMENTS_PER_READ = 100  # of one escrow, per pass; the rest on the next ones


@dataclass
class EscrowFollower:
    uow: UnitOfWorkFactory
    chain: Chain
    clock: Clock
    settlement_hooks: list[SettlementHook] = field(default_factory=list)
    max_per_pass: int = MAX_PER_PASS
    watch_batch: int = WATCH_BATCH
    watch_interval: timedelta = WATCH_INTERVAL

    async def run_once(self) -> int:
        """One pass over the work; returns how many transactions changed state
        or were found on chain.

        A chain outage ends the pass early and leaves everything pending.
        """
        changed = await self._expire_prepared()
        changed += await self._follow_pending()
        changed += await self._watch_escrows()
        return changed

    async def _follow_pending(self) -> int:
        changed = 0
        seen: set[uuid.UUID] = set()
        # Read before any signature state: a transaction unknown to the node
        # once this height has passed its last valid block can never land.
        height: int | None = None
        try:
            while len(seen) < self.max_per_pass:
                async with self.uow() as uow:
                    claimed = await uow.escrow.claim_pending(1, exclude=seen)
                    if not claimed:
                        break
                    transaction = claimed[0]
                    seen.add(transaction.id)
                    if height is None:
                        height = await self.chain.block_height()
                    settled = await isolated(
                        self._follow(uow, transaction, height),
                        "could not follow transaction; will retry",
                        transaction_id=str(transaction.id),
                    )
                    if settled:
                        await uow.commit()
                        changed += 1
        except ChainUnavailable as error:
            log.warning(
                "chain unavailable; pending transactions wait", error=str(error)
            )
        return changed

    async def follow_one(self, transaction_id: uuid.UUID) -> TransactionStatus | None:
        """Bring one transaction up to date now, by the same path as a pass.

        For a request awaiting its own transaction; returns its status.
        """
        async with self.uow() as uow:
            transaction = await uow.escrow.get(transaction_id, for_update=True)
            if transaction is None:
                return None
            if transaction.status is TransactionStatus.PENDING:
                height = await self.chain.block_height()
                if await self._follow(uow, transaction, height):
                    await uow.commit()
            return transaction.status

    async def _expire_prepared(self) -> int:
        async with self.uow() as uow:
            expired = await uow.escrow.expire_prepared(self.clock())
            await uow.commit()
        return expired

    async def _follow(
        self, uow: UnitOfWork, transaction: EscrowTransaction, height: int
    ) -> bool:
        """Bring one locked PENDING row up to date; True if it became final."""
        if transaction.signature is None or transaction.signed_transaction is None:
            await self._settle(
                uow, transaction, TransactionStatus.FAILED, "nothing was signed"
            )
            return True
        state = await self.chain.signature_state(transaction.signature)
        if state.commitment is Commitment.UNKNOWN:
            if height > transaction.last_valid_block_height:
                await self._settle(
                    uow,
                    transaction,
                    TransactionStatus.EXPIRED,
                    "did not land before its blockhash expired",
                )
                return True
            # Never re-signed: the very bytes the user signed, sent again.
            try:
                await self.chain.send(transaction.signed_transaction)
            except ChainRejected as error:
                log.warning(
                    "rebroadcast refused; waiting for expiry",
                    transaction_id=str(transaction.id),
                    error=error.detail,
                )
                return False
            state = await self.chain.signature_state(transaction.signature)
        if state.commitment is Commitment.FINALIZED:
            await self._settle(uow, transaction, TransactionStatus.CONFIRMED, None)
            return True
        if state.commitment is Commitment.FAILED:
            await self._settle(
                uow,
                transaction,
                TransactionStatus.FAILED,
                state.error or "the transaction failed on chain",
            )
            return True
        return False  # processed or confirmed: not final yet, shown as pending

    async def _settle(
        self,
        uow: UnitOfWork,
        transaction: EscrowTransaction,
        status: TransactionStatus,
        error: str | None,
    ) -> None:
        transaction.status = status
        transaction.error = error
        if status is TransactionStatus.CONFIRMED:
            transaction.confirmed_at = self.clock()
        await uow.escrow.save(transaction)
        await self._settled(uow, transaction)

    async def _settled(self, uow: UnitOfWork, transaction: EscrowTransaction) -> None:
        """Every final transaction, the service's or not: ledger, then hooks."""
        if transaction.status is TransactionStatus.CONFIRMED:
            await uow.escrow.add_ledger_entry(
                LedgerEntry(
                    user_id=transaction.user_id,
                    escrow_transaction_id=transaction.id,
                    delta=transaction.ledger_delta,
                    created_at=self.clock(),
                )
            )
            if transaction.type is TransactionType.INITIALIZE:
                assert transaction.signature is not None
                await uow.escrow.add_cursor(transaction.user_id, transaction.signature)
        event = _settled_event(transaction)
        if event is not None:
            await uow.outbox.add(
                Event.of(
                    event,
                    ("escrow_transaction", transaction.id),
                    self.clock(),
                    transaction_id=transaction.id,
                    user_id=transaction.user_id,
                    wallet_address=transaction.wallet_address,
                    transaction_type=transaction.type,
                    status=transaction.status,
                    amount=format_usdc(transaction.amount),
                    signature=transaction.signature,
                    external=transaction.prepared_transaction is None,
                    error=transaction.error,
                )
            )
        for hook in self.settlement_hooks:
            await hook(uow, transaction)
        log.info(
            "escrow transaction settled",
            transaction_id=str(transaction.id),
            type=transaction.type.value,
            status=transaction.status.value,
            signature=transaction.signature,
        )

    # --- movements made without the service ------------------------------------

    async def _watch_escrows(self) -> int:
        """Read the history of the escrows due; returns the movements found."""
        found = 0
        seen: set[uuid.UUID] = set()
        try:
            while len(seen) < self.watch_batch:
                async with self.uow() as uow:
                    due = self.clock() - self.watch_interval
                    cursor = await uow.escrow.claim_cursor(due, exclude=seen)
                    if cursor is None:
                        break
                    seen.add(cursor.user_id)
                    try:
                        found += await self._read_escrow(uow, cursor)
                    except ChainUnavailable:
                        raise
                    except Exception:
                        log.exception(
                            "could not read the escrow's history; will retry",
                            user_id=str(cursor.user_id),
                        )
                        continue
                    await uow.commit()
        except ChainUnavailable as error:
            log.warning("chain unavailable; escrow history waits", error=str(error))
        return found

    async def _read_escrow(self, uow: UnitOfWork, cursor: EscrowCursor) -> int:
        page = await self.chain.escrow_movements(
            cursor.wallet_address, cursor.last_signature, MOVEMENTS_PER_READ
        )
        found = 0
        for movement in page.movements:
            found += await self._account_for(uow, cursor, movement)
        cursor.last_signature = page.cursor or cursor.last_signature
        cursor.read_at = self.clock()
        await uow.escrow.save_cursor(cursor)
        return found

    async def _account_for(
        self, uow: UnitOfWork, cursor: EscrowCursor, movement: ChainMovement
    ) -> bool:
        """Record one movement unless it is the service's; True if recorded."""
        if await uow.escrow.get_by_signature(movement.signature) is not None:
            return False  # the service's own, settled or not yet, or recorded
        if movement.unsigned_transaction is not None:
            unsent = await uow.escrow.find_unsent(
                cursor.user_id, movement.unsigned_transaction
            )
            if unsent is not None:
                return await self._adopt(uow, unsent, movement)
        if movement.delta == 0:
            return False
        now = self.clock()
        when = movement.block_time or now
        transaction = EscrowTransaction(
            user_id=cursor.user_id,
            wallet_address=cursor.wallet_address,
            type=TransactionType.EXTERNAL_DEPOSIT
            if movement.delta > 0
            else TransactionType.EXTERNAL_WITHDRAWAL,
            amount=abs(movement.delta),
            prepared_transaction=None,
            last_valid_block_height=0,  # never prepared: nothing to expire
            created_at=when,
            expires_at=when,
            status=TransactionStatus.CONFIRMED,
            signature=movement.signature,
            confirmed_at=now,
        )
        if not await uow.escrow.add_external(transaction):
            return False  # recorded meanwhile by the service or another worker
        await self._settled(uow, transaction)
        return True

    async def _adopt(
        self, uow: UnitOfWork, transaction: EscrowTransaction, movement: ChainMovement
    ) -> bool:
        """A prepared transaction the wallet signed and sent without submitting it
        here (yet): record it as submitted, then settle it as any other."""
        transaction.signed_transaction = movement.signed_transaction
        transaction.signature = movement.signature
        transaction.status = TransactionStatus.PENDING
        transaction.error = None
        transaction.submitted_at = self.clock()
        await uow.escrow.save(transaction)
        return await self._follow(uow, transaction, await self.chain.block_height())


_CONFIRMED = {
    TransactionType.INITIALIZE: EventType.ESCROW_INITIALIZED,
    TransactionType.DEPOSIT: EventType.ESCROW_DEPOSIT_CONFIRMED,
    TransactionType.EXTERNAL_DEPOSIT: EventType.ESCROW_DEPOSIT_CONFIRMED,
    TransactionType.WITHDRAW: EventType.ESCROW_WITHDRAWAL_CONFIRMED,
    TransactionType.EXTERNAL_WITHDRAWAL: EventType.ESCROW_WITHDRAWAL_CONFIRMED,
}


def _settled_event(transaction: EscrowTransaction) -> EventType | None:
    """What a final transaction tells; a charge is told as a payment instead
    (`payment.completed` / `payment.failed`, by the charge settlement)."""
    if transaction.type is TransactionType.SUBSCRIPTION_CHARGE:
        return None
    if transaction.status is TransactionStatus.CONFIRMED:
        return _CONFIRMED[transaction.type]
    return EventType.ESCROW_TRANSACTION_FAILED
