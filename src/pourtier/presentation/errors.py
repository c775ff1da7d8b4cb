"""One place that turns errors into JSON `{detail}` responses."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from pourtier.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    UpstreamRefused,
)
from pourtier.domain.escrow import ChainRejected, ChainUnavailable
from pourtier.domain.subscriptions import PaymentRequired

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (PaymentRequired, 402),
    (ChainRejected, 502),
    (UpstreamRefused, 502),
    (ChainUnavailable, 503),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (ServiceUnavailable, 503),
]


def status_for(error: DomainError) -> int:
    for error_type, status in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status
    return 400


async def domain_error_handler(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status = status_for(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body: dict[str, Any] = {"detail": error.detail, **error.extra()}
    return JSONResponse(body, status_code=status, headers=headers)


async def validation_error_handler(_: Request, error: Exception) -> JSONResponse:
    """Like FastAPI's, minus echoing the offending input back."""
    assert isinstance(error, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
        for e in error.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def http_error_handler(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return JSONResponse(
        {"detail": error.detail},
        status_code=error.status_code,
        headers=getattr(error, "headers", None),
    )


log = structlog.get_logger(__name__)
DATABASE_UNAVAILABLE = "the database is unavailable; retry in a moment"
# The database connection was lost or cannot be had: the request's transaction
# died with it (PostgreSQL rolls it back), so retrying is safe. The pool pings
# connections on checkout, so the next request gets a live one.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,  # only its disconnect kinds: see connection_lost
    sa_exc.TimeoutError,  # no pool connection free in time
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, restart
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed"
    OSError,  # refused, reset or timed out while (re)connecting
)


def connection_lost(error: Exception) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa_exc.InterfaceError | sa_exc.OperationalError
        )
    return isinstance(error, CONNECTION_ERRORS)


async def connection_error_handler(request: Request, error: Exception) -> JSONResponse:
    """503 for a lost database connection; any other database error stays a 500."""
    if not connection_lost(error):
        raise error
    log.warning(
        "database connection lost; answered 503",
        path=request.url.path,
        error=type(error).__name__,
    )
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE}, status_code=503, headers={"Retry-After": "1"}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    for error_type in CONNECTION_ERRORS:
        app.add_exception_handler(error_type, connection_error_handler)
