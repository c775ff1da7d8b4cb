"""Follow every sent escrow transaction to a final state, and keep the ledger.

All state is in the database: a worker holds nothing between passes, so a
restart simply picks the pending rows up again. Each row is claimed with
FOR UPDATE SKIP LOCKED inside its own unit of work, so any number of workers
(in the API processes or `pourtier worker`) share the work without doing any
of it twice, and the ledger's unique index guarantees one entry per
transaction even if they tried.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.domain.escrow import (
    Chain,
    ChainRejected,
    ChainUnavailable,
    Commitment,
    EscrowTransaction,
    LedgerEntry,
    TransactionStatus,
)
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)

SettlementHook = Callable[[UnitOfWork, EscrowTransaction], Awaitable[None]]
"""Called for every final state (confirmed, failed, expired) of a sent
transaction, in the settling unit of work, after the row and ledger entry are
written; raising rolls the settlement back and it is retried on the next pass."""

MAX_PER_PASS = 500


@dataclass
class EscrowFollower:
    uow: UnitOfWorkFactory
    chain: Chain
    clock: Clock
    settlement_hooks: list[SettlementHook] = field(default_factory=list)
    max_per_pass: int = MAX_PER_PASS

    async def run_once(self) -> int:
        """One pass over the work; returns how many transactions changed state.

        A chain outage ends the pass early and leaves everything pending.
        """
        changed = await self._expire_prepared()
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
                    try:
                        settled = await self._follow(uow, transaction, height)
                    except ChainUnavailable:
                        raise
                    except Exception:
                        # One bad row (or hook) must not stall the others.
                        log.exception(
                            "could not follow transaction; will retry",
                            transaction_id=str(transaction.id),
                        )
                        continue
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
        now = self.clock()
        transaction.status = status
        transaction.error = error
        if status is TransactionStatus.CONFIRMED:
            transaction.confirmed_at = now
            await uow.escrow.add_ledger_entry(
                LedgerEntry(
                    user_id=transaction.user_id,
                    escrow_transaction_id=transaction.id,
                    delta=transaction.ledger_delta,
                    created_at=now,
                )
            )
        await uow.escrow.save(transaction)
        for hook in self.settlement_hooks:
            await hook(uow, transaction)
        log.info(
            "escrow transaction settled",
            transaction_id=str(transaction.id),
            type=transaction.type.value,
            status=status.value,
            signature=transaction.signature,
        )
