"""A worker's health from its passes: none yet, recent, stale, failing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pourtier.application.worker_health import STALE_AFTER, WorkerPasses

WORKERS = ["EscrowFollower.run_once", "EventRelay.run_once"]


@dataclass
class StoppedClock:
    """Time that moves only when the test moves it."""

    now: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_worker_without_a_pass_yet_is_not_known_to_work() -> None:
    passes = WorkerPasses(StoppedClock())
    assert passes.stale(WORKERS) == WORKERS
    assert passes.latest() is None


def test_a_recent_pass_is_healthy_and_a_stale_one_is_not() -> None:
    clock = StoppedClock()
    passes = WorkerPasses(clock)
    for worker in WORKERS:
        passes.record(worker, succeeded=True)
    assert passes.stale(WORKERS) == []
    clock.now += STALE_AFTER - timedelta(seconds=1)
    passes.record(WORKERS[1], succeeded=True)
    assert passes.latest() == clock()
    clock.now += timedelta(seconds=2)
    assert passes.stale(WORKERS) == [WORKERS[0]]


def test_failed_passes_are_counted_until_one_succeeds() -> None:
    clock = StoppedClock()
    passes = WorkerPasses(clock)
    passes.record(WORKERS[0], succeeded=True)
    at = passes.last_pass[WORKERS[0]]
    clock.now += timedelta(seconds=5)
    passes.record(WORKERS[0], succeeded=False)
    passes.record(WORKERS[0], succeeded=False)
    assert passes.failures[WORKERS[0]] == 2
    assert passes.last_pass[WORKERS[0]] == at  # a failed pass is no pass
    passes.record(WORKERS[0], succeeded=True)
    assert passes.failures[WORKERS[0]] == 0
    assert passes.last_pass[WORKERS[0]] == clock()
