"""The FastAPI application: routers, middleware, error rendering, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from pourtier import __version__
from pourtier.config import Settings
from pourtier.di.container import Container, build_container
from pourtier.infrastructure.monitoring.logging import configure_logging
from pourtier.presentation.deps import current_auth, require_compliance
from pourtier.presentation.errors import install_error_handlers
from pourtier.presentation.middleware import RequestContextMiddleware
from pourtier.presentation.routes import (
    auth,
    dev,
    escrow,
    legal,
    ops,
    subscriptions,
    users,
)

AUTHENTICATED = [Depends(current_auth)]
COMPLIANT = [Depends(require_compliance)]


def create_app(container: Container, *, manage_lifespan: bool = True) -> FastAPI:
    """Build the app around a container; tests pass their own."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifespan:
            await container.start()
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
    )
    app.state.container = container
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(auth.router)
    app.include_router(legal.public_router)
    app.include_router(legal.router, dependencies=AUTHENTICATED)
    app.include_router(users.router, dependencies=AUTHENTICATED)
    app.include_router(escrow.router, dependencies=COMPLIANT)
    app.include_router(subscriptions.public_router)
    app.include_router(subscriptions.router, dependencies=COMPLIANT)
    if dev.enabled(container):
        app.include_router(dev.router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=container.settings.CORS_ORIGINS,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-Request-ID",
            "Idempotency-Key",
        ],
        expose_headers=["X-Request-ID"],
    )
    app.add_middleware(RequestContextMiddleware, metrics=container.metrics)
    return app


def create_app_from_environment() -> FastAPI:
    """Uvicorn factory: settings from the YAML file and environment."""
    settings = Settings()
    configure_logging(settings.LOG_LEVEL)
    return create_app(build_container(settings))
