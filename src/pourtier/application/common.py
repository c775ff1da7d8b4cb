"""What every use case is handed: a clock, a unit of work, who is asking."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pourtier.domain.unit_of_work import UnitOfWork

Clock = Callable[[], datetime]
UnitOfWorkFactory = Callable[[], UnitOfWork]


def utc_now() -> datetime:
    return datetime.now(UTC)
