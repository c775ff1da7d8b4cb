"""SQLAlchemy unit of work: one session, one transaction, explicit commit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pourtier.infrastructure.persistence.auth import (
    SqlNonceRepository,
    SqlSessionRepository,
)
from pourtier.infrastructure.persistence.escrow import SqlEscrowRepository
from pourtier.infrastructure.persistence.legal import SqlLegalRepository
from pourtier.infrastructure.persistence.subscriptions import (
    SqlSubscriptionRepository,
)
from pourtier.infrastructure.persistence.users import SqlUserRepository


class SqlUnitOfWork:
    users: SqlUserRepository
    legal: SqlLegalRepository
    nonces: SqlNonceRepository
    sessions: SqlSessionRepository
    subscriptions: SqlSubscriptionRepository
    escrow: SqlEscrowRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        self.users = SqlUserRepository(self._session)
        self.legal = SqlLegalRepository(self._session)
        self.nonces = SqlNonceRepository(self._session)
        self.sessions = SqlSessionRepository(self._session)
        self.subscriptions = SqlSubscriptionRepository(self._session)
        self.escrow = SqlEscrowRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._session.rollback()
        finally:
            await self._session.close()

    async def commit(self) -> None:
        await self._session.commit()
