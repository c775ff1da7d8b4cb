"""The few node primitives the escrow chain needs; two adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature

from pourtier.domain.escrow import SignatureState

MAX_SIGNATURES_PER_PAGE = 1000  # getSignaturesForAddress' own limit


@dataclass(frozen=True)
class SignatureInfo:
    """One transaction that touched an address (getSignaturesForAddress)."""

    signature: str
    slot: int
    error: str | None  # the node's JSON error text; None if it succeeded
    block_time: int | None


@dataclass(frozen=True)
class HistoryPage:
    """Which of an address's signatures to list, newest first: those strictly
    older than `before` and newer than `until`, at most `limit`."""

    before: str | None = None
    until: str | None = None
    limit: int = MAX_SIGNATURES_PER_PAGE


NEWEST = HistoryPage()


@dataclass(frozen=True)
class TokenBalance:
    """A token account's balance around a transaction (meta.pre/postTokenBalances)."""

    account_index: int
    mint: str
    owner: str | None
    amount: int
    decimals: int


@dataclass(frozen=True)
class ChainTransaction:
    """The essentials of getTransaction: what landed, and whose tokens moved."""

    signature: str
    slot: int
    block_time: int | None
    error: str | None
    transaction: bytes  # the signed wire bytes
    account_keys: list[str]  # the message's keys, then any loaded by lookup
    pre_token_balances: list[TokenBalance]
    post_token_balances: list[TokenBalance]
    fee: int = 0
    pre_balances: list[int] = field(default_factory=list)  # lamports, by key
    post_balances: list[int] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


class Node(Protocol):
    async def latest_blockhash(self) -> tuple[Hash, int]:
        """(blockhash, last block height at which it is still valid)."""
        ...

    async def get_account(self, address: Pubkey) -> Account | None: ...

    async def minimum_balance(self, size: int) -> int: ...

    async def send_raw(self, transaction: bytes) -> None:
        """Broadcast without waiting. Execution errors show in signature_state."""
        ...

    async def signature_state(self, signature: Signature) -> SignatureState: ...

    async def block_height(self) -> int: ...

    async def health(self) -> str: ...

    async def signatures(
        self, address: Pubkey, page: HistoryPage = NEWEST
    ) -> list[SignatureInfo]:
        """Finalized transactions that touched `address`, newest first."""
        ...

    async def get_transaction(self, signature: str) -> ChainTransaction | None:
        """A finalized transaction, None if the node does not have it (yet)."""
        ...
