"""Reading receipts: the caller's own, as data or as a printable PDF.

Receipts are written by the charge settlement (subscription_charges.py), in
the transaction that confirms the charge; here they are only read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pourtier.application.common import UnitOfWorkFactory
from pourtier.domain.errors import owned
from pourtier.domain.receipts import Receipt, ReceiptRenderer

Explorer = Callable[[str], str | None]
"""The explorer page of a signature on the configured cluster, if it has one."""


@dataclass(frozen=True)
class ReceiptView:
    receipt: Receipt
    explorer_url: str | None


@dataclass
class ReceiptUseCases:
    uow: UnitOfWorkFactory
    explorer: Explorer
    render: ReceiptRenderer

    def _view(self, receipt: Receipt) -> ReceiptView:
        return ReceiptView(receipt, self.explorer(receipt.signature))

    async def list_for_user(
        self, user_id: uuid.UUID, limit: int, offset: int
    ) -> list[ReceiptView]:
        """Newest first."""
        async with self.uow() as uow:
            found = await uow.receipts.list_for_user(user_id, limit, offset)
        return [self._view(receipt) for receipt in found]

    async def get(self, user_id: uuid.UUID, receipt_id: uuid.UUID) -> ReceiptView:
        """Another user's receipt is NotFound, like an unknown one."""
        async with self.uow() as uow:
            found = await uow.receipts.get(receipt_id)
        return self._view(owned(found, user_id, "receipt"))

    async def pdf(
        self, user_id: uuid.UUID, receipt_id: uuid.UUID
    ) -> tuple[ReceiptView, bytes]:
        """Drawn off the event loop: a page takes a few milliseconds of CPU."""
        view = await self.get(user_id, receipt_id)
        document = await asyncio.to_thread(self.render, view.receipt, view.explorer_url)
        return view, document
