"""The transaction boundary use cases own: one commit per business workflow."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from pourtier.domain.auth import NonceRepository, SessionRepository
from pourtier.domain.escrow import EscrowRepository
from pourtier.domain.legal import LegalRepository
from pourtier.domain.subscriptions import SubscriptionRepository
from pourtier.domain.users import UserRepository


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserRepository: ...

    @property
    def legal(self) -> LegalRepository: ...

    @property
    def nonces(self) -> NonceRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def escrow(self) -> EscrowRepository: ...

    @property
    def subscriptions(self) -> SubscriptionRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back anything not committed."""
        ...

    async def commit(self) -> None: ...
