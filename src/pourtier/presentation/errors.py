"""One place that turns errors into JSON `{detail}` responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pourtier.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
)
from pourtier.domain.escrow import ChainRejected, ChainUnavailable
from pourtier.domain.subscriptions import PaymentRequired

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (PaymentRequired, 402),
    (ChainRejected, 502),
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
