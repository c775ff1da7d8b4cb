"""Prometheus metrics with the product's names, on a registry of our own.

With several server processes (`pourtier serve --workers N`) a scrape reaches
whichever process accepts it, so each process writes its metrics to files in a
directory they share (prometheus_client's multiprocess mode) and any of them
answers for all. prometheus_client picks its mode when it is first imported, from
PROMETHEUS_MULTIPROC_DIR: `shared_metrics_directory` sets it before the server
processes are spawned.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess_mode() -> bool:
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def multiprocess_directory() -> Path | None:
    """The directory this process shares its metrics through, if any."""
    path = os.environ.get(MULTIPROCESS_ENV)
    if not path:
        return None
    if not _multiprocess_mode():
        # Counting in memory while the scrape reads the (empty) files would
        # silently expose nothing.
        raise RuntimeError(
            f"{MULTIPROCESS_ENV} was set after prometheus_client was imported"
        )
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def shared_metrics_directory(processes: int) -> Iterator[Path | None]:
    """A fresh multiprocess directory for one server start, in the environment
    that the server processes inherit.

    PROMETHEUS_MULTIPROC_DIR, if set, is used (emptied of earlier runs' files);
    otherwise a temporary directory is made and removed at the end. A single
    process without it keeps the in-memory mode, and the `process_*` metrics.
    """
    chosen = os.environ.get(MULTIPROCESS_ENV)
    if processes == 1 and not chosen:
        yield None
        return
    if _multiprocess_mode():
        # This process counted into files we are about to delete; reopen.
        values.ValueClass.close_all_files()
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="pourtier-metrics-"))
        os.environ[MULTIPROCESS_ENV] = str(path)
    try:
        yield path
    finally:
        if not chosen:
            os.environ.pop(MULTIPROCESS_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of processes that have exited (a worker killed and
    replaced); their counters and histograms stay, so sums never go back."""
    for file in directory.glob("gauge_live*_*.db"):
        pid = file.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


class Metrics:
    """One instance per app, so in-process tests never share global state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.directory = multiprocess_directory()
        if self.directory is None:
            self._exposed = self.registry
            # process_* (CPU, memory, start time) and the pid that answered.
            ProcessCollector(registry=self.registry)
            Info(
                "pourtier_process", "The process that answered.", registry=self.registry
            ).info({"pid": str(os.getpid())})
        else:
            # Every process's files, merged at each scrape; this process's
            # metrics are among them, so they are not exposed twice.
            self._exposed = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(self._exposed, str(self.directory))  # type: ignore[no-untyped-call]
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        self.http_requests = counter(
            "pourtier_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
        )
        self.http_duration = Histogram(
            "pourtier_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.db_queries = counter(
            "pourtier_db_queries_total",
            "SQL statements sent to PostgreSQL.",
        )
        self.db_pool_size = gauge(
            "pourtier_db_connection_pool_size",
            "Database connection pools: configured size and connections in use, "
            "summed over the server processes.",
            ["state"],
            multiprocess_mode="livesum",
        )
        self.cache_hits = counter(
            "pourtier_cache_hits_total",
            "Cache hits by layer.",
            ["cache_type"],
        )
        self.cache_misses = counter(
            "pourtier_cache_misses_total",
            "Lookups that missed every cache layer.",
        )
        # Read from the database by the process that answers the scrape: its
        # value is the latest, and the others' are older readings.
        self.users_active = gauge(
            "pourtier_users_active_total",
            "Users with at least one live (not logged-out) session.",
            multiprocess_mode="livemostrecent",
        )
        self.subscriptions_active = gauge(
            "pourtier_subscriptions_active_total",
            "Subscriptions currently active.",
            multiprocess_mode="livemostrecent",
        )

        self.outbox_pending = gauge(
            "pourtier_outbox_pending",
            "Event deliveries not yet delivered, given up or disabled.",
            multiprocess_mode="livemostrecent",
        )
        self.event_deliveries = counter(
            "pourtier_event_deliveries_total",
            "Event delivery attempts by sink (courier, webhook) and outcome "
            "(delivered, retry, failed, disabled).",
            ["sink", "outcome"],
        )

    def render(self) -> bytes:
        if self.directory is not None:
            forget_dead_processes(self.directory)
        return generate_latest(self._exposed)


class WorkerGauges:
    """The lag of `pourtier worker`, on its Metrics' registry.

    Registered by the worker's own metrics server only: in an API process
    nothing would refresh them, and a lag that always reads 0 would hide one.
    """

    def __init__(self, metrics: Metrics) -> None:
        gauge = partial(
            Gauge, registry=metrics.registry, multiprocess_mode="livemostrecent"
        )
        self.pending_transaction_age = gauge(
            "pourtier_escrow_oldest_pending_age_seconds",
            "Age of the oldest escrow transaction sent and not yet final; "
            "0 when none is pending.",
        )
        self.undelivered_event_age = gauge(
            "pourtier_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest event with a delivery still pending; 0 when none.",
        )
        self.last_pass = gauge(
            "pourtier_worker_last_pass_timestamp_seconds",
            "When each worker of this process last completed a pass (Unix time).",
            ["worker"],
        )
