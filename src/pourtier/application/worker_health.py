"""The workers' passes, and what a worker process reports about itself: its
passes and its backlog.

A worker that stops passing (stuck on a lock, a chain call that never ends)
or falls behind shows nothing in the API's answers until money or events are
late; its supervisor and Prometheus see it here first. The passes are this
process's own (kept in memory: each worker answers for itself), the backlog
is the database's (the same whichever worker is asked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from pourtier.application.common import Clock, UnitOfWorkFactory, utc_now

log = structlog.get_logger(__name__)
WORKER_INTERVAL_SECONDS = 1.0
Worker = Callable[[], Awaitable[int]]
"""One pass of background work; returns how much it did. State is in the DB."""

STALE_AFTER = timedelta(seconds=60)
"""A worker whose last good pass is older than this is degraded: passes come
every second or so, and even a long one (500 transactions) ends well within."""


@dataclass
class WorkerPasses:
    """Each worker's last completed pass, and its failed passes since."""

    clock: Clock = utc_now
    last_pass: dict[str, datetime] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def record(self, worker: str, succeeded: bool) -> None:
        if succeeded:
            self.last_pass[worker] = self.clock()
            self.failures[worker] = 0
        else:
            self.failures[worker] = self.failures.get(worker, 0) + 1

    def stale(self, workers: list[str], after: timedelta = STALE_AFTER) -> list[str]:
        """The workers without a good pass in `after`: a worker that has not
        completed its first one yet is not known to work."""
        since = self.clock() - after
        never = since - timedelta(seconds=1)
        return [w for w in workers if self.last_pass.get(w, never) < since]

    def latest(self) -> datetime | None:
        return max(self.last_pass.values(), default=None)


def worker_name(worker: Worker) -> str:
    return getattr(worker, "__qualname__", repr(worker))


async def run_worker(
    worker: Worker,
    interval: float = WORKER_INTERVAL_SECONDS,
    passes: WorkerPasses | None = None,
) -> None:
    """Run a worker's passes forever; a failing pass is logged and retried.
    Each outcome goes to `passes`, what `pourtier worker` reports."""
    name = worker_name(worker)
    while True:
        try:
            done = await worker()
            if done:
                log.debug("worker pass", worker=name, done=done)
        except Exception:
            log.warning("worker pass failed; will retry", worker=name, exc_info=True)
            succeeded = False
        else:
            succeeded = True
        if passes is not None:
            passes.record(name, succeeded)
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class Backlog:
    """How long the oldest waiting item has waited; zero when none waits."""

    pending_transaction: timedelta
    undelivered_event: timedelta


@dataclass
class WorkerBacklog:
    uow: UnitOfWorkFactory
    clock: Clock

    async def read(self) -> Backlog:
        async with self.uow() as uow:
            sent = await uow.escrow.oldest_pending_since()
            occurred = await uow.deliveries.oldest_pending_since()
        now = self.clock()

        def age(since: datetime | None) -> timedelta:
            return max(now - since, timedelta(0)) if since else timedelta(0)

        return Backlog(age(sent), age(occurred))
