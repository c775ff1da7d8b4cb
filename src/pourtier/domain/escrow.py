"""Non-custodial escrow: a user's own SPL token account, with a capped delegate.

The platform prepares unsigned transactions; the user signs them with their
wallet; the platform only ever signs subscription charges, as the delegate,
within the allowance the user approved. Every movement is recorded as an
escrow transaction whose lifecycle is followed against the chain, and each
confirmed one appends exactly one ledger entry.

Being the user's own account, the escrow also receives and loses funds
without the service: anyone may send tokens to it, and its owner may move them
out. The follower reads each escrow's history on chain and records every such
movement as an external deposit or withdrawal, once (by its signature).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pourtier.domain.errors import DomainError


class ChainUnavailable(DomainError):
    """The Solana node cannot be reached or answered nonsense."""


class ChainRejected(DomainError):
    """The chain refused a transaction (simulation or execution failed)."""


class TransactionType(StrEnum):
    INITIALIZE = "initialize"
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"
    SUBSCRIPTION_CHARGE = "subscription_charge"
    # Seen on chain, made without the service: never prepared, always final.
    EXTERNAL_DEPOSIT = "external_deposit"
    EXTERNAL_WITHDRAWAL = "external_withdrawal"

    @property
    def is_credit(self) -> bool:
        """Money into the escrow, whoever sent it."""
        return LEDGER_SIGN[self] > 0


class TransactionStatus(StrEnum):
    PREPARED = "prepared"  # built, waiting for the user's signature
    PENDING = "pending"  # sent, not final yet
    CONFIRMED = "confirmed"  # final on chain; ledger updated
    FAILED = "failed"  # executed with an error, or rejected
    EXPIRED = "expired"  # never signed/landed before its blockhash expired

    @property
    def is_final(self) -> bool:
        return self in (self.CONFIRMED, self.FAILED, self.EXPIRED)


LEDGER_SIGN = {
    TransactionType.INITIALIZE: 0,
    TransactionType.DEPOSIT: 1,
    TransactionType.WITHDRAW: -1,
    TransactionType.SUBSCRIPTION_CHARGE: -1,
    TransactionType.EXTERNAL_DEPOSIT: 1,
    TransactionType.EXTERNAL_WITHDRAWAL: -1,
}


@dataclass
class EscrowTransaction:
    user_id: uuid.UUID
    wallet_address: str
    type: TransactionType
    amount: int
    # The transaction as the service built it: unsigned, for the wallet to sign;
    # already signed, by the fee authority, for a subscription charge. None for
    # external movements only (the service never built them).
    prepared_transaction: bytes | None
    last_valid_block_height: int
    created_at: datetime
    expires_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: TransactionStatus = TransactionStatus.PREPARED
    signed_transaction: bytes | None = None
    signature: str | None = None
    submitted_at: datetime | None = None
    confirmed_at: datetime | None = None
    error: str | None = None

    @property
    def ledger_delta(self) -> int:
        return LEDGER_SIGN[self.type] * self.amount


@dataclass(frozen=True)
class LedgerEntry:
    """Append-only; one per confirmed transaction (unique in the database)."""

    user_id: uuid.UUID
    escrow_transaction_id: uuid.UUID
    delta: int
    created_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)


# --- the chain port ------------------------------------------------------------


@dataclass(frozen=True)
class EscrowState:
    address: str
    exists: bool
    balance: int
    delegate: str | None
    delegated_amount: int
    mint: str


@dataclass(frozen=True)
class PreparedTransaction:
    """An unsigned transaction (wire bytes, empty signatures) and its expiry."""

    transaction: bytes
    last_valid_block_height: int


@dataclass(frozen=True)
class SignedTransaction:
    """Signed by the fee authority alone (a charge): ready to send as it is."""

    transaction: bytes
    signature: str
    last_valid_block_height: int


class Commitment(StrEnum):
    UNKNOWN = "unknown"  # not seen by the node (yet, or never)
    PROCESSED = "processed"
    CONFIRMED = "confirmed"
    FINALIZED = "finalized"
    FAILED = "failed"  # landed with an error: final, nothing moved


@dataclass(frozen=True)
class SignatureState:
    commitment: Commitment
    error: str | None = None


@dataclass(frozen=True)
class ChainMovement:
    """A finalized transaction that touched an escrow, and what it moved."""

    signature: str
    delta: int  # base units into the escrow (negative: out of it)
    slot: int
    block_time: datetime | None
    signed_transaction: bytes
    # The same transaction as this service prepares them (signatures blank), to
    # recognise one the wallet sent itself; None when it cannot be one of ours.
    unsigned_transaction: bytes | None


@dataclass(frozen=True)
class MovementPage:
    movements: list[ChainMovement]  # oldest first
    cursor: str | None  # the newest signature read (pass it back); None: none


@dataclass
class EscrowCursor:
    """How far the follower has read one escrow's history on chain."""

    user_id: uuid.UUID
    wallet_address: str
    last_signature: str | None
    read_at: datetime | None


class Chain(Protocol):
    """What Pourtier needs from Solana. Amounts are base units of the mint.

    Network and node failures raise ChainUnavailable; a transaction the chain
    refuses raises ChainRejected.
    """

    @property
    def usdc_mint(self) -> str: ...

    @property
    def fee_authority(self) -> str:
        """The delegate the user approves; it signs subscription charges."""
        ...

    def escrow_address(self, wallet_address: str) -> str: ...

    async def escrow_state(self, wallet_address: str) -> EscrowState: ...

    async def wallet_usdc_balance(self, wallet_address: str) -> int: ...

    async def prepare_initialize(
        self, wallet_address: str, allowance: int
    ) -> PreparedTransaction: ...

    async def prepare_deposit(
        self, wallet_address: str, amount: int
    ) -> PreparedTransaction: ...

    async def prepare_withdraw(
        self, wallet_address: str, amount: int
    ) -> PreparedTransaction: ...

    def check_signed(self, prepared: bytes, signed: bytes, wallet_address: str) -> str:
        """Return the signature if `signed` is exactly `prepared`, signed by the wallet.

        Raises InvalidInput otherwise.
        """
        ...

    async def sign_charge(self, wallet_address: str, amount: int) -> SignedTransaction:
        """Escrow -> treasury, signed by the fee authority as delegate. Not sent."""
        ...

    async def send(self, transaction: bytes) -> None:
        """Broadcast; sending the same bytes again is harmless."""
        ...

    async def signature_state(self, signature: str) -> SignatureState: ...

    async def block_height(self) -> int: ...

    async def health(self) -> str: ...

    async def escrow_movements(
        self, wallet_address: str, after_signature: str | None, limit: int
    ) -> MovementPage:
        """The escrow's finalized transactions after `after_signature` (all, if
        None), oldest first, at most `limit` of them; failed ones are skipped
        but counted in the cursor."""
        ...


# --- repository -----------------------------------------------------------------


class EscrowRepository(Protocol):
    async def lock_movements(self, user_id: uuid.UUID) -> None:
        """Hold the user's money movements until commit: a second caller for
        the same user waits (the lock is taken on the user's row)."""
        ...

    async def add(self, transaction: EscrowTransaction) -> None: ...

    async def get(
        self, transaction_id: uuid.UUID, *, for_update: bool = False
    ) -> EscrowTransaction | None: ...

    async def get_by_signature(self, signature: str) -> EscrowTransaction | None: ...

    async def save(self, transaction: EscrowTransaction) -> None: ...

    async def list_for_user(
        self, user_id: uuid.UUID, type: TransactionType | None, limit: int, offset: int
    ) -> list[EscrowTransaction]: ...

    async def claim_pending(
        self, limit: int, exclude: Collection[uuid.UUID] = ()
    ) -> list[EscrowTransaction]:
        """PENDING rows locked FOR UPDATE SKIP LOCKED: each goes to one worker.

        `exclude` names rows this worker has already looked at in this pass.
        """
        ...

    async def expire_prepared(self, before: datetime) -> int: ...

    async def oldest_pending_since(self) -> datetime | None:
        """When the longest-waiting PENDING transaction was sent; None if none."""
        ...

    async def add_ledger_entry(self, entry: LedgerEntry) -> bool:
        """False if this transaction already has its entry (credited once)."""
        ...

    async def ledger_balance(self, user_id: uuid.UUID) -> int: ...

    async def pending_debits(self, user_id: uuid.UUID) -> int:
        """Withdrawals and charges sent but not final: not spendable."""
        ...

    async def deposited(self, user_id: uuid.UUID) -> int:
        """Deposits confirmed or sent (not failed), the service's or not."""
        ...

    async def has_pending(self, user_id: uuid.UUID, type: TransactionType) -> bool:
        """A transaction of this type signed and sent but not final yet."""
        ...

    async def add_external(self, transaction: EscrowTransaction) -> bool:
        """Insert a movement seen on chain; False if its signature is recorded."""
        ...

    async def find_unsent(
        self, user_id: uuid.UUID, unsigned_transaction: bytes
    ) -> EscrowTransaction | None:
        """The prepared (or expired) transaction built as these exact unsigned
        bytes, never submitted here, locked FOR UPDATE."""
        ...

    async def add_cursor(self, user_id: uuid.UUID, after_signature: str) -> None:
        """Start following an escrow after this signature (once per user)."""
        ...

    async def claim_cursor(
        self, read_before: datetime, exclude: Collection[uuid.UUID] = ()
    ) -> EscrowCursor | None:
        """The cursor read longest ago (never read first), if read before
        `read_before`; locked FOR UPDATE SKIP LOCKED: one worker per escrow."""
        ...

    async def save_cursor(self, cursor: EscrowCursor) -> None: ...
