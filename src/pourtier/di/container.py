"""The composition root: the one place adapters are chosen and wired."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import structlog
from redis.asyncio import Redis
from solders.keypair import Keypair
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pourtier.application.auth import AuthUseCases
from pourtier.application.common import Clock, utc_now
from pourtier.application.legal import LegalUseCases
from pourtier.application.users import UserUseCases
from pourtier.config import Settings
from pourtier.domain.auth import SignInPolicy
from pourtier.infrastructure.auth.jwt_tokens import JwtAccessTokens
from pourtier.infrastructure.auth.secrets_store import resolve_jwt_secret
from pourtier.infrastructure.auth.wallet_signature import Ed25519SignatureVerifier
from pourtier.infrastructure.monitoring.health import (
    Check,
    HealthReport,
    database_check,
    redis_check,
    run_checks,
)
from pourtier.infrastructure.monitoring.metrics import Metrics
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.database import (
    attach_query_counter,
    create_engine,
    create_session_factory,
    embedded_database_url,
)
from pourtier.infrastructure.persistence.unit_of_work import SqlUnitOfWork
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.local import LocalChain

log = structlog.get_logger(__name__)
HOUSEKEEPING_INTERVAL_SECONDS = 600
GAUGE_REFRESH_TIMEOUT_SECONDS = 2.0


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    metrics: Metrics
    auth: AuthUseCases
    users: UserUseCases
    legal: LegalUseCases
    redis: Redis | None
    chain: SolanaEscrowChain
    local_chain: LocalChain | None
    health_checks: dict[str, Check] = field(default_factory=dict)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """In development, bring the schema and initial documents up to date."""
        if self.settings.ENV == "development":
            await migrate.upgrade(self.engine)
            seeded = await self.legal.seed_initial()
            if seeded:
                log.info("seeded initial legal documents", count=len(seeded))
        self._background.append(asyncio.create_task(self._housekeeping()))

    async def _housekeeping(self) -> None:
        """Periodic clean-up that no request should pay for."""
        while True:
            try:
                removed = await self.auth.purge_expired_nonces()
                if removed:
                    log.info("purged expired nonces", count=removed)
            except Exception:
                log.warning("housekeeping failed; will retry", exc_info=True)
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    async def health(self) -> HealthReport:
        return await run_checks(self.health_checks)

    async def refresh_gauges(self) -> None:
        """Business gauges are read from the database at scrape time.

        A failing database must not fail the scrape: the last values are kept.
        """
        try:
            async with (
                asyncio.timeout(GAUGE_REFRESH_TIMEOUT_SECONDS),
                SqlUnitOfWork(self.session_factory) as uow,
            ):
                users = await uow.sessions.count_users_with_live_sessions(
                    self.auth.clock()
                )
        except Exception:
            log.warning("could not refresh gauges; keeping last values", exc_info=True)
        else:
            self.metrics.users_active.set(users)
        pool = self.engine.pool
        self.metrics.db_pool_size.labels("size").set(self.settings.DATABASE_POOL_SIZE)
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            self.metrics.db_pool_size.labels("in_use").set(checked_out())


def database_url(settings: Settings) -> str:
    if settings.DATABASE_URL:
        return settings.DATABASE_URL
    return embedded_database_url(settings.POURTIER_DATA_DIR)


def fee_authority(settings: Settings) -> Keypair | None:
    secret = settings.FEE_AUTHORITY_KEYPAIR
    return Keypair.from_base58_string(secret.get_secret_value()) if secret else None


def build_chain(settings: Settings) -> tuple[SolanaEscrowChain, LocalChain | None]:
    """JSON-RPC when SOLANA_RPC_URL is set, else the local in-process VM."""
    if settings.SOLANA_RPC_URL:
        raise NotImplementedError("the JSON-RPC adapter is wired in by its module")
    local = LocalChain.open(
        Path(settings.POURTIER_DATA_DIR) / "chain", fee_authority(settings)
    )
    return local.escrow_chain(), local


def build_container(settings: Settings, clock: Clock = utc_now) -> Container:
    engine = create_engine(
        database_url(settings),
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
    )
    metrics = Metrics()
    attach_query_counter(engine).listeners.append(metrics.db_queries.inc)
    session_factory = create_session_factory(engine)

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory)

    keys = {
        kid: secret.get_secret_value()
        for kid, secret in settings.JWT_PREVIOUS_KEYS.items()
    }
    keys[settings.JWT_KEY_ID] = resolve_jwt_secret(settings)
    tokens = JwtAccessTokens(
        signing_key_id=settings.JWT_KEY_ID,
        keys=keys,
        algorithm=settings.JWT_ALGORITHM,
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        expires_in=timedelta(minutes=settings.JWT_ACCESS_TOKEN_EXPIRE_MINUTES),
        clock=clock,
    )
    policy = SignInPolicy(
        domain=settings.auth_domain,
        uri=settings.auth_uri,
        chain_id=settings.SOLANA_CLUSTER,
    )
    redis_url = settings.redis_url
    redis = Redis.from_url(redis_url) if redis_url else None
    chain, local_chain = build_chain(settings)
    return Container(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        metrics=metrics,
        auth=AuthUseCases(
            uow=uow,
            policy=policy,
            verifier=Ed25519SignatureVerifier(),
            tokens=tokens,
            clock=clock,
            refresh_ttl=timedelta(days=settings.JWT_REFRESH_TOKEN_EXPIRE_DAYS),
        ),
        users=UserUseCases(uow=uow, clock=clock),
        legal=LegalUseCases(uow=uow, clock=clock),
        redis=redis,
        chain=chain,
        local_chain=local_chain,
        health_checks={
            "database": database_check(engine),
            "cache": redis_check(redis),
            "chain": chain.health,
        },
    )
