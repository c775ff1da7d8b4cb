"""SQLAlchemy unit of work: one session, one transaction, explicit commit.

Repositories note the cache keys of the rows they write; once the commit has
succeeded the unit drops those keys from this process's cache and the shared
one, so the writer reads its own write at once. Other processes are told by
the database itself: triggers (migration 0003) NOTIFY every change of a cached
row, delivered exactly when the transaction commits.
"""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pourtier.domain.cache import Cache
from pourtier.domain.unit_of_work import UnitOfWork
from pourtier.infrastructure.persistence.audit import SqlAuditLog
from pourtier.infrastructure.persistence.auth import (
    SqlNonceRepository,
    SqlSessionRepository,
)
from pourtier.infrastructure.persistence.deliveries import (
    SqlDeliveries,
    SqlWebhooks,
)
from pourtier.infrastructure.persistence.escrow import SqlEscrowRepository
from pourtier.infrastructure.persistence.kyc import SqlKycRepository
from pourtier.infrastructure.persistence.legal import SqlLegalRepository
from pourtier.infrastructure.persistence.notifications import (
    SqlNotificationRepository,
)
from pourtier.infrastructure.persistence.outbox import SqlOutbox
from pourtier.infrastructure.persistence.receipts import SqlReceiptRepository
from pourtier.infrastructure.persistence.subscriptions import (
    SqlSubscriptionRepository,
)
from pourtier.infrastructure.persistence.users import SqlUserRepository


class SqlUnitOfWork(UnitOfWork):
    """The repositories named by `UnitOfWork`, on one session."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        cache: Cache | None = None,
        courier: bool = False,
    ) -> None:
        """`courier`: the service publishes to Courier, so every event gets a
        delivery to it."""
        self._session_factory = session_factory
        self._cache = cache
        self._courier = courier
        self._changed: set[str] = set()

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        changed = self._changed
        self.users = SqlUserRepository(self._session, changed)
        self.legal = SqlLegalRepository(self._session, changed)
        self.nonces = SqlNonceRepository(self._session)
        self.sessions = SqlSessionRepository(self._session, changed)
        self.subscriptions = SqlSubscriptionRepository(self._session, changed)
        self.escrow = SqlEscrowRepository(self._session)
        self.receipts = SqlReceiptRepository(self._session)
        self.kyc = SqlKycRepository(self._session)
        self.outbox = SqlOutbox(self._session, self._courier)
        self.notifications = SqlNotificationRepository(self._session)
        self.deliveries = SqlDeliveries(self._session)
        self.webhooks = SqlWebhooks(self._session)
        self.audit = SqlAuditLog(self._session)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._changed.clear()  # what was not committed changed nothing
        try:
            await self._session.rollback()
        finally:
            await self._session.close()

    async def commit(self) -> None:
        await self._session.commit()
        if self._changed:
            keys = sorted(self._changed)
            self._changed.clear()
            if self._cache is not None:
                await self._cache.invalidate(keys)
