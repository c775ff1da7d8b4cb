"""The database engines and the two-level cache in front of them (a part of
the composition root, kept beside container.py)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pourtier.config import Settings
from pourtier.infrastructure.cache.l1 import MemoryCache
from pourtier.infrastructure.cache.redis_l2 import (
    RedisCache,
    connect_redis,
    namespace_for,
)
from pourtier.infrastructure.cache.two_level import TwoLevelCache
from pourtier.infrastructure.monitoring.metrics import Metrics
from pourtier.infrastructure.persistence.database import (
    QueryCounter,
    attach_query_counter,
    create_engine,
    create_session_factory,
    embedded_database_url,
    watch_pool_use,
)


@dataclass(frozen=True)
class Storage:
    engine: AsyncEngine
    direct_engine: AsyncEngine
    """On DATABASE_DIRECT_URL: see `Container.direct_engine`."""
    direct_url: str
    """Where LISTEN goes, and what names the cache's namespace."""
    session_factory: async_sessionmaker[AsyncSession]
    counter: QueryCounter
    redis: Redis | None
    cache: TwoLevelCache


def database_url(settings: Settings) -> str:
    if settings.DATABASE_URL:
        return settings.DATABASE_URL
    return embedded_database_url(settings.POURTIER_DATA_DIR)


def build_storage(settings: Settings, metrics: Metrics) -> Storage:
    url = database_url(settings)
    engine = create_engine(
        url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pooler=settings.DATABASE_POOLER,
    )
    # Session-scoped work (LISTEN, migrations) bypasses a transaction pooler.
    direct_url = settings.DATABASE_DIRECT_URL or url
    direct_engine = (
        engine
        if direct_url == url
        else create_engine(direct_url, pool_size=1, max_overflow=0)
    )
    counter = attach_query_counter(engine)
    counter.listeners.append(metrics.db_queries.inc)
    metrics.db_pool_size.labels("size").set(settings.DATABASE_POOL_SIZE)
    in_use = metrics.db_pool_size.labels("in_use")
    in_use.set(0)
    watch_pool_use(engine, in_use.set)
    redis_url = settings.redis_url
    redis = (
        connect_redis(redis_url, settings.CACHE_REDIS_TIMEOUT_SECONDS)
        if redis_url
        else None
    )
    cache = TwoLevelCache(
        MemoryCache(settings.CACHE_MAX_ENTRIES, settings.CACHE_TTL_SECONDS),
        RedisCache(
            redis,
            settings.CACHE_NAMESPACE or namespace_for(direct_url),
            settings.CACHE_TTL_SECONDS,
            timeout_seconds=settings.CACHE_REDIS_TIMEOUT_SECONDS,
            retry_seconds=settings.CACHE_REDIS_RETRY_SECONDS,
        )
        if redis is not None
        else None,
        metrics,
    )
    return Storage(
        engine=engine,
        direct_engine=direct_engine,
        direct_url=direct_url,
        session_factory=create_session_factory(engine),
        counter=counter,
        redis=redis,
        cache=cache,
    )
