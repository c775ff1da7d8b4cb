"""Prometheus metrics with the product's names, on a registry of our own."""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """One instance per app, so tests and workers never share global state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # process_* (CPU, memory, start time): one set per worker process,
        # and which process answered the scrape.
        ProcessCollector(registry=self.registry)
        Info(
            "pourtier_process", "The process that answered.", registry=self.registry
        ).info({"pid": str(os.getpid())})
        self.http_requests = Counter(
            "pourtier_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "pourtier_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.db_queries = Counter(
            "pourtier_db_queries_total",
            "SQL statements sent to PostgreSQL.",
            registry=self.registry,
        )
        self.db_pool_size = Gauge(
            "pourtier_db_connection_pool_size",
            "Database connection pool: configured size and connections in use.",
            ["state"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "pourtier_cache_hits_total",
            "Cache hits by layer.",
            ["cache_type"],
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "pourtier_cache_misses_total",
            "Lookups that missed every cache layer.",
            registry=self.registry,
        )
        self.users_active = Gauge(
            "pourtier_users_active_total",
            "Users with at least one live (not logged-out) session.",
            registry=self.registry,
        )
        self.subscriptions_active = Gauge(
            "pourtier_subscriptions_active_total",
            "Subscriptions currently active.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
