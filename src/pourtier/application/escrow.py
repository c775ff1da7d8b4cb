"""The escrow: prepare transactions for the user to sign, accept them, report.

Nothing here holds the user's funds or keys. Each prepared transaction is
recorded before it is handed out, so only messages this service built can be
submitted; a submitted one is committed (signed bytes, signature, PENDING)
before it is sent, so a crash at any point loses nothing: the follower
(`escrow_follower.py`) finds it and finishes the job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory
from pourtier.application.escrow_follower import EscrowFollower, SettlementHook
from pourtier.domain.errors import Conflict, InvalidInput, NotFound, owned
from pourtier.domain.escrow import (
    Chain,
    ChainRejected,
    ChainUnavailable,
    EscrowState,
    EscrowTransaction,
    PreparedTransaction,
    TransactionStatus,
    TransactionType,
)
from pourtier.domain.kyc import KycAction, KycPolicy
from pourtier.domain.money import format_usdc
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.domain.users import User

log = structlog.get_logger(__name__)

MAX_PAGE = 100
EXPIRED_UNSIGNED = "never signed and submitted before it expired"


@dataclass(frozen=True)
class Prepared:
    """An unsigned transaction for the user's wallet to sign, then submit."""

    transaction: EscrowTransaction
    escrow_account: str


@dataclass(frozen=True)
class EscrowBalance:
    escrow_account: str
    is_initialized: bool
    balance: int
    allowance_remaining: int
    token_mint: str
    synced_at: datetime


@dataclass
class EscrowUseCases:
    uow: UnitOfWorkFactory
    chain: Chain
    clock: Clock
    follower: EscrowFollower
    prepared_ttl: timedelta
    default_allowance: int
    kyc: KycPolicy = field(default_factory=KycPolicy)

    @property
    def settlement_hooks(self) -> list[SettlementHook]:
        """Other features react to settled transactions by appending here."""
        return self.follower.settlement_hooks

    # --- preparing -------------------------------------------------------------

    async def _wallet(self, uow: UnitOfWork, user_id: uuid.UUID) -> str:
        return (await self._user(uow, user_id)).wallet_address

    async def _user(self, uow: UnitOfWork, user_id: uuid.UUID) -> User:
        user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("user not found")
        return user

    def _usable(self, state: EscrowState) -> bool:
        return state.exists and state.mint == self.chain.usdc_mint

    async def _record(
        self,
        uow: UnitOfWork,
        user_id: uuid.UUID,
        wallet: str,
        type: TransactionType,
        amount: int,
        prepared: PreparedTransaction,
    ) -> Prepared:
        now = self.clock()
        transaction = EscrowTransaction(
            user_id=user_id,
            wallet_address=wallet,
            type=type,
            amount=amount,
            prepared_transaction=prepared.transaction,
            last_valid_block_height=prepared.last_valid_block_height,
            created_at=now,
            expires_at=now + self.prepared_ttl,
        )
        await uow.escrow.add(transaction)
        await uow.commit()
        return Prepared(transaction, self.chain.escrow_address(wallet))

    async def initialize(self, user_id: uuid.UUID, allowance: int | None) -> Prepared:
        """Create + initialize the token account + approve the capped delegate."""
        allowance = self.default_allowance if allowance is None else allowance
        if allowance <= 0:
            raise InvalidInput("allowance must be greater than zero")
        async with self.uow() as uow:
            wallet = await self._wallet(uow, user_id)
            await uow.escrow.lock_movements(user_id)
            if await uow.escrow.has_pending(user_id, TransactionType.INITIALIZE):
                raise Conflict("an initialization of this escrow is already pending")
            state = await self.chain.escrow_state(wallet)
            if state.exists:
                raise Conflict("the escrow is already initialized")
            prepared = await self.chain.prepare_initialize(wallet, allowance)
            return await self._record(
                uow, user_id, wallet, TransactionType.INITIALIZE, allowance, prepared
            )

    async def _require_escrow(self, wallet: str) -> EscrowState:
        state = await self.chain.escrow_state(wallet)
        if not self._usable(state):
            raise Conflict(
                "the escrow is not initialized: POST /api/escrow/initialize first"
            )
        return state

    async def deposit(self, user_id: uuid.UUID, amount: int) -> Prepared:
        """Up to the wallet's USDC balance."""
        return await self._move(user_id, TransactionType.DEPOSIT, amount)

    async def withdraw(self, user_id: uuid.UUID, amount: int) -> Prepared:
        """Up to the on-chain balance less withdrawals and charges in flight."""
        return await self._move(user_id, TransactionType.WITHDRAW, amount)

    async def _move(
        self, user_id: uuid.UUID, type: TransactionType, amount: int
    ) -> Prepared:
        async with self.uow() as uow:
            user = await self._user(uow, user_id)
            wallet = user.wallet_address
            await uow.escrow.lock_movements(user_id)
            if type is TransactionType.DEPOSIT:
                deposited = await uow.escrow.deposited(user_id)
                self.kyc.check_deposit(user.kyc_status, deposited, amount)
            else:
                self.kyc.check(user.kyc_status, KycAction.WITHDRAW)
            state = await self._require_escrow(wallet)
            if type is TransactionType.DEPOSIT:
                source = "the wallet's USDC balance"
                available = await self.chain.wallet_usdc_balance(wallet)
                prepare = self.chain.prepare_deposit
            else:
                source = "the escrow's available balance"
                debits = await uow.escrow.pending_debits(user_id)
                available = max(0, state.balance - debits)
                prepare = self.chain.prepare_withdraw
            if amount > available:
                raise InvalidInput(
                    f"amount is more than {source} ({format_usdc(available)})"
                )
            prepared = await prepare(wallet, amount)
            return await self._record(uow, user_id, wallet, type, amount, prepared)

    # --- submitting -------------------------------------------------------------

    async def submit(
        self, user_id: uuid.UUID, transaction_id: uuid.UUID, signed: bytes
    ) -> EscrowTransaction:
        """Accept the user's signature of a prepared transaction, then send it."""
        result, fresh = await self.accept_signed(user_id, transaction_id, signed)
        if fresh:
            await self.broadcast(signed)
        return result

    async def accept_signed(
        self, user_id: uuid.UUID, transaction_id: uuid.UUID, signed: bytes
    ) -> tuple[EscrowTransaction, bool]:
        """Check and durably record the signed transaction; nothing is sent yet.

        Returns the result and whether this call recorded it (False when the
        same transaction was already submitted: the answer is the same and
        nothing changes).
        """
        async with self.uow() as uow:
            found = await uow.escrow.get(transaction_id, for_update=True)
            transaction = owned(found, user_id, "escrow transaction")
            if transaction.prepared_transaction is None:
                raise Conflict(
                    "this transaction was made outside the service and is "
                    "already confirmed; there is nothing to sign"
                )
            if len(signed) != len(transaction.prepared_transaction):
                # A signed copy fills the signature slots: same size, nothing
                # appended that a lenient decoder would skip over.
                raise InvalidInput("signed_transaction is not the prepared transaction")
            signature = self.chain.check_signed(
                transaction.prepared_transaction, signed, transaction.wallet_address
            )
            if transaction.signature == signature:
                return transaction, False
            if transaction.status is TransactionStatus.PREPARED and (
                self.clock() >= transaction.expires_at
            ):
                transaction.status = TransactionStatus.EXPIRED
                transaction.error = EXPIRED_UNSIGNED
                await uow.escrow.save(transaction)
                await uow.commit()
            if transaction.status is TransactionStatus.EXPIRED:
                raise InvalidInput("this transaction has expired; prepare a new one")
            if transaction.status is not TransactionStatus.PREPARED:
                raise Conflict(f"this transaction is already {transaction.status}")
            twin = await uow.escrow.get_by_signature(signature)
            if twin is not None:
                raise Conflict(
                    f"the same transaction was already submitted as {twin.id}; "
                    "prepare a new one"
                )
            transaction.signed_transaction = signed
            transaction.signature = signature
            transaction.status = TransactionStatus.PENDING
            transaction.submitted_at = self.clock()
            await uow.escrow.save(transaction)
            await uow.commit()
        log.info(
            "escrow transaction submitted",
            transaction_id=str(transaction.id),
            type=transaction.type.value,
            signature=signature,
        )
        return transaction, True

    async def broadcast(self, signed: bytes) -> None:
        """Send what was recorded; on failure the follower sends it again."""
        try:
            await self.chain.send(signed)
        except ChainUnavailable:
            raise ChainUnavailable(
                "the chain is unreachable; the signed transaction is saved and "
                "will be sent when it is back"
            ) from None
        except ChainRejected as error:
            # Left PENDING: only the chain can say it will never land, and
            # the follower asks it until the blockhash expires.
            raise ChainRejected(
                f"the chain refused the transaction: {error.detail}"
            ) from None

    # --- reading -----------------------------------------------------------------

    async def balance(self, user_id: uuid.UUID) -> EscrowBalance:
        """Straight from the chain, the source of truth."""
        async with self.uow() as uow:
            wallet = await self._wallet(uow, user_id)
        state = await self.chain.escrow_state(wallet)
        usable = self._usable(state)
        ours = usable and state.delegate == self.chain.fee_authority
        return EscrowBalance(
            escrow_account=state.address,
            is_initialized=usable,
            balance=state.balance if usable else 0,
            allowance_remaining=state.delegated_amount if ours else 0,
            token_mint=self.chain.usdc_mint,
            synced_at=self.clock(),
        )

    async def transactions(
        self,
        user_id: uuid.UUID,
        type: TransactionType | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[EscrowTransaction]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise InvalidInput(f"limit must be 1..{MAX_PAGE} and offset at least 0")
        async with self.uow() as uow:
            return await uow.escrow.list_for_user(user_id, type, limit, offset)

    async def transaction(
        self, user_id: uuid.UUID, transaction_id: uuid.UUID
    ) -> EscrowTransaction:
        async with self.uow() as uow:
            found = await uow.escrow.get(transaction_id)
        return owned(found, user_id, "escrow transaction")
