"""What every use case is handed: a clock, a unit of work, who is asking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from pourtier.domain.escrow import ChainUnavailable
from pourtier.domain.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)
T = TypeVar("T")

Clock = Callable[[], datetime]
UnitOfWorkFactory = Callable[[], UnitOfWork]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def isolated(work: Awaitable[T], failure: str, **context: str) -> T | None:
    """One row's work in a worker pass, so one bad row cannot stall the rest.

    A chain outage ends the pass (it is raised); any other error is logged as
    `failure` with `context`, and the row is left for the next pass (None).
    """
    try:
        return await work
    except ChainUnavailable:
        raise
    except Exception:
        log.exception(failure, **context)
        return None
