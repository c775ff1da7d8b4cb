"""What every use case is handed: a clock, a unit of work, who is asking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pourtier.domain.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]
UnitOfWorkFactory = Callable[[], UnitOfWork]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClientInfo:
    """Recorded with sessions and legal acceptances, as evidence."""

    ip_address: str | None = None
    user_agent: str | None = None
