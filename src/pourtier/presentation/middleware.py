"""Request context as plain ASGI: id, JSON access log, metrics, last-resort 500.

Plain ASGI rather than BaseHTTPMiddleware: no extra task or body buffering
per request, which costs most of a small endpoint's throughput.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pourtier.infrastructure.monitoring.metrics import Metrics

log = structlog.get_logger("pourtier.http")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_INTERNAL_ERROR = (
    b'{"detail":"internal server error; quote the request id when reporting it",'
    b'"request_id":"%s"}'
)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_RE.match(text) else None
    return None


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        header = (b"x-request-id", request_id.encode("latin-1"))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = False
        begin = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", path=scope.get("path"))
            if not started:
                await self._internal_error(send, header, request_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - begin)

    async def _internal_error(
        self, send: Send, header: tuple[bytes, bytes], request_id: str
    ) -> None:
        body = _INTERNAL_ERROR % request_id.encode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    header,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _record(
        self, scope: Scope, state: dict[str, Any], status: int, elapsed: float
    ) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.http_requests.labels(method, template, str(status)).inc()
        self.metrics.http_duration.labels(method, template).observe(elapsed)
        log.info(
            "request",
            method=method,
            route=template,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            user_id=state.get("user_id"),
            wallet=state.get("wallet"),
        )
