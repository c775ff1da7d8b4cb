"""The few node primitives the escrow chain needs; two adapters implement them."""

from __future__ import annotations

from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature

from pourtier.domain.escrow import SignatureState


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
