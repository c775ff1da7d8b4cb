"""Receipts: one per confirmed subscription charge, numbered without gaps.

A receipt is issued in the transaction that confirms its charge, so it exists
exactly when the money moved. Numbers run 1, 2, 3... across the service in
commit order (a counter held until commit; a rolled-back one is given back),
which is what an accountant expects of a receipt book.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from urllib.parse import quote

from pourtier.domain.subscriptions import ChargeKind, PlanName

RECEIPT_PREFIX = "PT"
EXPLORER = "https://explorer.solana.com/tx/"

Cluster = Literal["mainnet", "devnet", "testnet", "localnet"]


def explorer_url(cluster: Cluster, signature: str, rpc_url: str | None) -> str | None:
    """The Solana Explorer page of a transaction on `cluster`.

    On localnet the explorer can only reach a node it is pointed at
    (`cluster=custom`): that needs the node's URL, so with no SOLANA_RPC_URL
    (the in-process local chain) there is no link.
    """
    if cluster == "mainnet":
        return f"{EXPLORER}{signature}"
    if cluster in ("devnet", "testnet"):
        return f"{EXPLORER}{signature}?cluster={cluster}"
    if rpc_url:
        return f"{EXPLORER}{signature}?cluster=custom&customUrl={quote(rpc_url, '')}"
    return None


@dataclass
class Receipt:
    sequence: int
    """The receipt's place in the service's book: 1, 2, 3... without gaps."""
    user_id: uuid.UUID
    subscription_id: uuid.UUID
    charge_id: uuid.UUID
    kind: ChargeKind
    plan: PlanName
    period_start: datetime
    period_end: datetime
    amount: int
    signature: str
    issued_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def number(self) -> str:
        """What the user quotes: `PT-000123`."""
        return f"{RECEIPT_PREFIX}-{self.sequence:06d}"


class ReceiptRepository(Protocol):
    async def issue(self, receipt: Receipt) -> Receipt:
        """Store it under the next number (held until commit); the numbered one.

        Call at most once per charge: the database refuses a second receipt
        for a charge, after the number has been taken.
        """
        ...

    async def for_charge(self, charge_id: uuid.UUID) -> Receipt | None: ...

    async def get(self, receipt_id: uuid.UUID) -> Receipt | None: ...

    async def list_for_user(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> list[Receipt]:
        """Newest first."""
        ...


class ReceiptRenderer(Protocol):
    def __call__(self, receipt: Receipt, explorer: str | None) -> bytes:
        """The receipt as a printable document (PDF)."""
        ...
