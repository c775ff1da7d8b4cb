"""The composition root: the Container and build_container, which wires the
use cases to adapters chosen here and in the modules beside it (storage.py,
chain.py, events.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

import httpx
import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pourtier.application.admin import AdminUseCases
from pourtier.application.auth import AuthUseCases
from pourtier.application.common import Clock, utc_now
from pourtier.application.escrow import EscrowUseCases
from pourtier.application.escrow_follower import EscrowFollower
from pourtier.application.event_admin import EventAdmin
from pourtier.application.event_relay import EventRelay
from pourtier.application.kyc import KycUseCases
from pourtier.application.legal import LegalUseCases
from pourtier.application.notifications import NotificationUseCases, RenewalNotices
from pourtier.application.receipts import ReceiptUseCases
from pourtier.application.subscription_charges import Billing, ChargeSettlement
from pourtier.application.subscription_renewals import SubscriptionRenewals
from pourtier.application.subscriptions import SubscriptionUseCases
from pourtier.application.users import UserUseCases
from pourtier.application.worker_health import (
    Worker,
    WorkerBacklog,
    WorkerPasses,
    run_worker,
)
from pourtier.config import Settings
from pourtier.di.chain import build_chain
from pourtier.di.events import build_event_delivery
from pourtier.di.storage import build_storage
from pourtier.domain.kyc import KycAction, KycPolicy
from pourtier.domain.money import UNITS_PER_USDC, parse_usdc
from pourtier.domain.receipts import explorer_url
from pourtier.domain.sign_in import SignInPolicy
from pourtier.domain.subscriptions import default_plans
from pourtier.domain.users import RolePolicy
from pourtier.infrastructure.auth.jwt_tokens import JwtAccessTokens
from pourtier.infrastructure.auth.secrets_store import resolve_jwt_secret
from pourtier.infrastructure.auth.wallet_signature import Ed25519SignatureVerifier
from pourtier.infrastructure.cache.invalidation import (
    InvalidationListener,
    listen_dsn,
)
from pourtier.infrastructure.cache.two_level import TwoLevelCache
from pourtier.infrastructure.kyc.providers import build_kyc
from pourtier.infrastructure.monitoring.health import (
    Check,
    HealthReport,
    database_check,
    redis_check,
    run_checks,
)
from pourtier.infrastructure.monitoring.metrics import Metrics
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.sign_in import SqlSignIns
from pourtier.infrastructure.persistence.unit_of_work import SqlUnitOfWork
from pourtier.infrastructure.rate_limiter import RateLimiter
from pourtier.infrastructure.receipt_pdf import render_receipt_pdf
from pourtier.infrastructure.solana.escrow_chain import SolanaEscrowChain
from pourtier.infrastructure.solana.local_chain import (
    Faucet,
    LocalChain,
)
from pourtier.infrastructure.solana.rpc import RpcNode

log = structlog.get_logger(__name__)
ALLOWANCE_MONTHS = 12
GAUGE_REFRESH_TIMEOUT_SECONDS = 2.0


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    direct_engine: AsyncEngine
    """On DATABASE_DIRECT_URL, never a transaction pooler: migrations (their
    lock and DDL want one session). The `engine` itself when it is direct."""
    session_factory: async_sessionmaker[AsyncSession]
    metrics: Metrics
    auth: AuthUseCases
    users: UserUseCases
    legal: LegalUseCases
    admin: AdminUseCases
    redis: Redis | None
    chain: SolanaEscrowChain
    local_chain: LocalChain | None  # in process: tests only
    faucet: Faucet | None  # on a local chain
    escrow: EscrowUseCases
    kyc: KycUseCases
    subscriptions: SubscriptionUseCases
    receipts: ReceiptUseCases
    renewals: SubscriptionRenewals
    notices: RenewalNotices
    notifications: NotificationUseCases
    cache: TwoLevelCache
    invalidations: InvalidationListener
    relay: EventRelay
    events: EventAdmin
    http: httpx.AsyncClient
    """The sinks' connections."""
    backlog: WorkerBacklog
    rate_limiter: RateLimiter | None = None
    housekeeping_seconds: float = 60.0
    """Cadence of the nonce purge: a nonce row lives at most its lifetime
    plus this, so the table holds what the per-IP sign-in budgets let through
    in that time, whatever a flood asks for."""
    health_checks: dict[str, Check] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    passes: WorkerPasses = field(default_factory=WorkerPasses)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Listen for cache invalidations; in development, bring the schema and
        initial documents up to date."""
        await self.invalidations.start()
        if self.settings.ENV == "development":
            await migrate.upgrade(self.direct_engine)
            seeded = await self.legal.seed_initial()
            if seeded:
                log.info("seeded initial legal documents", count=len(seeded))
        self._background.append(asyncio.create_task(self._housekeeping()))
        if self.settings.RUN_WORKERS:
            self._background.extend(
                asyncio.create_task(run_worker(worker)) for worker in self.workers
            )

    async def run_workers(self) -> None:
        """The background workers without the API (`pourtier worker`)."""
        await asyncio.gather(
            *(run_worker(worker, passes=self.passes) for worker in self.workers)
        )

    async def _housekeeping(self) -> None:
        """Periodic clean-up that no request should pay for."""
        while True:
            try:
                removed = await self.auth.purge_expired_nonces()
                if removed:
                    log.info("purged expired nonces", count=removed)
            except Exception:
                log.warning("housekeeping failed; will retry", exc_info=True)
            await asyncio.sleep(self.housekeeping_seconds)

    async def stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        await self.invalidations.stop()
        await self.cache.close()
        if self.rate_limiter is not None:
            await self.rate_limiter.close()
        if self.redis is not None:
            await self.redis.aclose()
        if isinstance(self.chain.node, RpcNode):
            await self.chain.node.close()
        await self.kyc.provider.aclose()
        await self.http.aclose()
        await self.engine.dispose()
        if self.direct_engine is not self.engine:
            await self.direct_engine.dispose()

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
                subscribed = await uow.subscriptions.count_active(
                    self.auth.clock(), self.subscriptions.grace
                )
                pending = await uow.deliveries.count_pending()
        except Exception:
            log.warning("could not refresh gauges; keeping last values", exc_info=True)
        else:
            self.metrics.users_active.set(users)
            self.metrics.subscriptions_active.set(subscribed)
            self.metrics.outbox_pending.set(pending)


def build_rate_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.RATE_LIMIT_ENABLED:
        return None
    return RateLimiter(
        {
            "auth": settings.RATE_LIMIT_AUTH,
            "read": settings.RATE_LIMIT_READ,
            "write": settings.RATE_LIMIT_WRITE,
        },
        settings.rate_limit_redis_url,
        retry_seconds=settings.RATE_LIMIT_STORE_RETRY_SECONDS,
    )


def build_container(
    settings: Settings,
    clock: Clock = utc_now,
    local_chain: LocalChain | None = None,
) -> Container:
    metrics = Metrics()
    storage = build_storage(settings, metrics)
    engine, cache, redis = storage.engine, storage.cache, storage.redis
    session_factory = storage.session_factory

    courier_url = settings.COURIER_URL

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(session_factory, cache, courier=bool(courier_url))

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
    chain, faucet = build_chain(settings, local_chain)
    follower = EscrowFollower(uow=uow, chain=chain, clock=clock)
    kyc_policy = KycPolicy(
        parse_usdc(
            str(settings.KYC_UNVERIFIED_DEPOSIT_LIMIT_USDC),
            "KYC_UNVERIFIED_DEPOSIT_LIMIT_USDC",
        ),
        frozenset(KycAction(action) for action in settings.KYC_REQUIRED_FOR),
    )
    escrow = EscrowUseCases(
        kyc=kyc_policy,
        uow=uow,
        chain=chain,
        clock=clock,
        follower=follower,
        prepared_ttl=timedelta(seconds=settings.PREPARED_TRANSACTION_TTL_SECONDS),
        default_allowance=int(
            settings.PRO_PRICE_USDC * UNITS_PER_USDC * ALLOWANCE_MONTHS
        ),
    )
    plans = default_plans(
        parse_usdc(str(settings.BASIC_PRICE_USDC), "BASIC_PRICE_USDC"),
        parse_usdc(str(settings.PRO_PRICE_USDC), "PRO_PRICE_USDC"),
    )
    grace = timedelta(days=settings.SUBSCRIPTION_GRACE_DAYS)
    follower.settlement_hooks.append(
        ChargeSettlement(clock=clock, plans=plans, grace=grace)
    )
    billing = Billing(uow, chain, clock, follower.follow_one, plans, grace)
    roles = RolePolicy(frozenset(settings.ADMIN_WALLETS))
    events = build_event_delivery(settings, uow, clock, metrics)
    container = Container(
        settings=settings,
        engine=engine,
        direct_engine=storage.direct_engine,
        session_factory=session_factory,
        metrics=metrics,
        auth=AuthUseCases(
            uow=uow,
            sign_ins=SqlSignIns(engine, cache, counted=storage.counter),
            policy=policy,
            verifier=Ed25519SignatureVerifier(),
            tokens=tokens,
            clock=clock,
            refresh_ttl=timedelta(days=settings.JWT_REFRESH_TOKEN_EXPIRE_DAYS),
            cache=cache,
        ),
        users=UserUseCases(uow=uow, clock=clock, cache=cache, roles=roles),
        legal=LegalUseCases(uow=uow, clock=clock, cache=cache),
        admin=AdminUseCases(uow=uow, clock=clock, cache=cache, roles=roles),
        redis=redis,
        chain=chain,
        local_chain=local_chain,
        faucet=faucet,
        escrow=escrow,
        kyc=build_kyc(settings, uow, clock),
        subscriptions=SubscriptionUseCases(
            **vars(billing),
            kyc=kyc_policy,
            confirm_timeout_seconds=settings.CHAIN_CONFIRM_TIMEOUT_SECONDS,
            cache=cache,
        ),
        receipts=ReceiptUseCases(
            uow=uow,
            explorer=partial(
                explorer_url, settings.SOLANA_CLUSTER, rpc_url=settings.SOLANA_RPC_URL
            ),
            render=render_receipt_pdf,
        ),
        renewals=SubscriptionRenewals(**vars(billing)),
        notices=RenewalNotices(
            **vars(billing), notice=timedelta(days=settings.RENEWAL_NOTICE_DAYS)
        ),
        notifications=NotificationUseCases(uow=uow, clock=clock),
        cache=cache,
        invalidations=InvalidationListener(listen_dsn(storage.direct_url), cache),
        relay=events.relay,
        events=events.admin,
        http=events.http,
        backlog=WorkerBacklog(uow, clock),
        rate_limiter=build_rate_limiter(settings),
        health_checks={
            "database": database_check(engine),
            "cache": redis_check(redis),
            "chain": chain.health,
        },
    )
    container.workers.append(follower.run_once)
    container.workers.append(container.renewals.run_once)
    container.workers.append(container.kyc.reconcile_once)
    container.workers.append(container.notices.run_once)
    container.workers.append(events.relay.run_once)
    return container
