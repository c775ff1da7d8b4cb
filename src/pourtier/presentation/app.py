"""The FastAPI application: routers, middleware, error rendering, lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pourtier import __version__
from pourtier.config import Settings
from pourtier.di.container import Container, build_container
from pourtier.infrastructure.monitoring.logging import configure_logging
from pourtier.presentation.api_docs import install_api_docs
from pourtier.presentation.body_limit import BodyLimitMiddleware
from pourtier.presentation.console_site import mount_console
from pourtier.presentation.errors import install_error_handlers
from pourtier.presentation.middleware import CorsPolicy, RequestContextMiddleware
from pourtier.presentation.openapi_auth import declare_bearer_auth
from pourtier.presentation.responses import declare_error_responses
from pourtier.presentation.route_limits import (
    EXPOSED_HEADERS,
    RateLimitHeadersMiddleware,
    route_guards,
)
from pourtier.presentation.routes import (
    admin,
    admin_events,
    auth,
    dev,
    escrow,
    kyc,
    legal,
    notifications,
    ops,
    subscriptions,
    users,
)
from pourtier.presentation.schemas.subscriptions import AccessOut
from pourtier.presentation.schemas.users import ProfileOut


def spare_the_collector() -> None:
    """Keep what start-up built out of the garbage collector's full passes.

    The app, its routes and models, the pools and imported modules (some 170k
    objects) live as long as the process, yet every full collection walked
    them all, some 50 ms each; under load, requests promote enough objects to
    trigger one every few hundred requests (about a tenth of a sign-in's CPU).
    Frozen, they are never walked again; what requests create is collected as
    before. Garbage made at start-up is collected first, not frozen.
    """
    gc.collect()
    gc.freeze()


def create_app(container: Container, *, manage_lifespan: bool = True) -> FastAPI:
    """Build the app around a container; tests pass their own."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifespan:
            await container.start()
            spare_the_collector()
        try:
            yield
        finally:
            if manage_lifespan:
                await container.stop()

    app = FastAPI(
        title="Pourtier",
        version=__version__,
        description="Wallet sign-in, profiles and legal compliance for traders.",
        lifespan=lifespan,
        docs_url=None,  # served from our own files, after the API: api_docs.py
        redoc_url=None,
        # Metrics are Prometheus (/metrics); without this, FastAPI looks up the
        # global OpenTelemetry providers on every request (about 3 µs).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    install_error_handlers(app)
    guards = route_guards(limited=container.rate_limiter is not None)
    # Requests are matched against routes in this order, one by one: the
    # most-read first. The prefixes are disjoint, so the order changes no answer.
    # The two most-read routes sit on the app itself rather than in their
    # routers (an included router is one more level to match through), and
    # call their gate themselves rather than have FastAPI resolve it: only the
    # limits, when on, are dependencies.
    # (`/check` must precede the router's `/{subscription_id}`: it does.)
    # They return their JSON made (`ModelResponse`), so the model is named here.
    for path, endpoint, model, tag in (
        ("/api/users/me", users.me, ProfileOut, "users"),
        ("/api/subscriptions/check", subscriptions.check, AccessOut, "subscriptions"),
    ):
        app.add_api_route(
            path,
            endpoint,
            response_model=model,
            methods=["GET"],
            tags=[tag],
            dependencies=guards.limits,
        )
    # The routers by guard. The public ones come before the gated ones: the
    # plans (`/api/subscriptions/plans`) before `/{subscription_id}`.
    signed_in = [users.router, legal.router, kyc.router, notifications.router]
    for guard, routers in (
        (guards.public, [subscriptions.public_router, legal.public_router]),
        (guards.authenticated, signed_in),
        (guards.compliant, [subscriptions.router, escrow.router]),
        (guards.public, [kyc.webhooks]),
        (guards.sign_in, [auth.router]),
        (guards.admin, [admin.router, admin_events.router]),
    ):
        for router in routers:
            app.include_router(router, dependencies=guard)
    app.include_router(ops.router)
    install_api_docs(app)
    faucet = dev.enabled(container)
    if faucet:
        app.include_router(dev.router, dependencies=guards.public)
    mount_console(app, container, faucet=faucet)  # after the docs: it has `/`
    declare_error_responses(app)
    declare_bearer_auth(app)
    if container.rate_limiter is not None:
        app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=container.settings.MAX_BODY_BYTES)
    # Outermost, and one layer for the request id, CORS, metrics and access log.
    cors = CorsPolicy(
        origins=container.settings.CORS_ORIGINS,
        methods=["GET", "POST", "PATCH", "DELETE"],
        headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
        expose=["X-Request-ID", *EXPOSED_HEADERS],
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=container.metrics,
        cors=cors,
        access_log=container.settings.ACCESS_LOG,
    )
    return app


def create_app_from_environment() -> FastAPI:
    """Uvicorn factory: settings from the YAML file and environment."""
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)
    return create_app(build_container(settings))
