"""Request context as one plain ASGI layer: id, CORS, metrics, access log, 500s.

Plain ASGI rather than BaseHTTPMiddleware: no extra task or body buffering
per request, which costs most of a small endpoint's throughput. One layer
rather than one per concern: every layer adds a call and a `send` wrapper to
each request, so the request id, CORS, the metrics and the access log share a
single pass over the request headers and a single wrapper. Everything that
can be worked out once (CORS answers, metric children) is.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from prometheus_client.metrics import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pourtier.infrastructure.monitoring.metrics import Metrics

log = structlog.get_logger("pourtier.http")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_INTERNAL_ERROR = (
    b'{"detail":"internal server error; quote the request id when reporting it",'
    b'"request_id":"%s"}'
)
_MAX_METRIC_CHILDREN = 4096
Header = tuple[bytes, bytes]
JSON: Header = (b"content-type", b"application/json")
TEXT: Header = (b"content-type", b"text/plain; charset=utf-8")


async def send_whole(
    send: Send, status: int, headers: list[Header], body: bytes
) -> None:
    """A response answered here, in one body, before (or instead of) the app's."""
    length = (b"content-length", str(len(body)).encode())
    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, length]}
    )
    await send({"type": "http.response.body", "body": body})


_VARY_ORIGIN: Header = (b"vary", b"Origin")
# What a browser may always send; listed in preflight answers like Starlette does.
_SAFELISTED_HEADERS = {"Accept", "Accept-Language", "Content-Language", "Content-Type"}


class CorsPolicy:
    """Which browser origins may call the API, with every answer precomputed.

    Same answers as Starlette's CORSMiddleware without credentials: preflights
    are answered here (200, or 400 naming what is not allowed), and responses
    to an allowed origin name it and expose the given headers. Requests
    without an `Origin` header (servers, scripts, load balancers) only get
    `Vary: Origin`.
    """

    def __init__(
        self,
        origins: Sequence[str],
        methods: Sequence[str],
        headers: Sequence[str],
        expose: Sequence[str],
        max_age: int = 600,
    ) -> None:
        self.allow_all = "*" in origins
        self.origins = frozenset(o.encode("latin-1") for o in origins)
        self.methods = frozenset(m.encode("latin-1") for m in methods)
        allowed_headers = sorted(_SAFELISTED_HEADERS | set(headers))
        self.headers = frozenset(h.lower() for h in allowed_headers)
        self.preflight_headers: list[Header] = [
            (b"access-control-allow-methods", ", ".join(methods).encode("latin-1")),
            (b"access-control-max-age", str(max_age).encode("latin-1")),
            (b"access-control-allow-headers", ", ".join(allowed_headers).encode()),
        ]
        self.simple_headers: list[Header] = []
        if expose:
            self.simple_headers.append(
                (b"access-control-expose-headers", ", ".join(expose).encode())
            )
        if self.allow_all:
            self.preflight_headers.append((b"access-control-allow-origin", b"*"))
            self.simple_headers.append((b"access-control-allow-origin", b"*"))
        else:
            self.preflight_headers.append(_VARY_ORIGIN)

    def allows(self, origin: bytes) -> bool:
        return self.allow_all or origin in self.origins

    def response_headers(self, origin: bytes | None) -> list[Header]:
        """Headers for the answer to an actual (not preflight) request."""
        if origin is None or not self.allows(origin):
            return [_VARY_ORIGIN]
        if self.allow_all:
            return self.simple_headers
        return [
            *self.simple_headers,
            (b"access-control-allow-origin", origin),
            _VARY_ORIGIN,
        ]

    def preflight(
        self, origin: bytes, request_headers: Sequence[Header]
    ) -> tuple[int, list[Header], bytes] | None:
        """The answer to a preflight; None if the OPTIONS request is not one."""
        method = _header(request_headers, b"access-control-request-method")
        if method is None:
            return None
        requested = _header(request_headers, b"access-control-request-headers")
        headers = list(self.preflight_headers)
        failures = []
        if self.allows(origin):
            if not self.allow_all:
                headers.append((b"access-control-allow-origin", origin))
        else:
            failures.append("origin")
        if method not in self.methods:
            failures.append("method")
        if requested is not None:
            names = requested.decode("latin-1").lower().split(",")
            if any(name.strip() not in self.headers for name in names):
                failures.append("headers")
        if (
            _header(request_headers, b"access-control-request-private-network")
            is not None
        ):
            failures.append("private-network")
        if failures:
            return 400, headers, ("Disallowed CORS " + ", ".join(failures)).encode()
        return 200, headers, b"OK"


def _header(headers: Iterable[Header], wanted: bytes) -> bytes | None:
    for name, value in headers:
        if name == wanted:
            return value
    return None


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        cors: CorsPolicy | None = None,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.cors = cors
        self.access_log = access_log
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = origin = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if incoming is None:
                    incoming = value
            elif name == b"origin" and origin is None:
                origin = value
        request_id = None
        if incoming is not None:
            text = incoming.decode("latin-1")
            request_id = text if _REQUEST_ID_RE.match(text) else None
        if request_id is None:
            request_id = os.urandom(16).hex()
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = False
        begin = time.perf_counter()
        cors = self.cors
        extra = [id_header]
        preflight = None
        if cors is not None:
            if origin is not None and scope["method"] == "OPTIONS":
                preflight = cors.preflight(origin, scope["headers"])
            if preflight is None:
                extra += cors.response_headers(origin)

        async def send_with_context(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            if preflight is not None:
                await self._preflight(send_with_context, *preflight)
            else:
                await self.app(scope, receive, send_with_context)
        except Exception:
            log.exception("unhandled error", path=scope.get("path"))
            if not started:
                await self._internal_error(send, id_header, request_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - begin)
            structlog.contextvars.reset_contextvars(**tokens)

    @staticmethod
    async def _preflight(
        send: Send, status: int, headers: list[Header], body: bytes
    ) -> None:
        await send_whole(send, status, [*headers, TEXT], body)

    async def _internal_error(
        self, send: Send, header: Header, request_id: str
    ) -> None:
        body = _INTERNAL_ERROR % request_id.encode("latin-1")
        await send_whole(send, 500, [JSON, header], body)

    def _metric_children(
        self, method: str, template: str, status: int
    ) -> tuple[Counter, Histogram]:
        """`labels()` looks children up under a lock each time; keep them."""
        key = (method, template, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.http_requests.labels(method, template, str(status)),
                self.metrics.http_duration.labels(method, template),
            )
            if len(self._children) < _MAX_METRIC_CHILDREN:
                self._children[key] = children
        return children

    def _record(
        self, scope: Scope, state: dict[str, Any], status: int, elapsed: float
    ) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        requests, duration = self._metric_children(method, template, status)
        requests.inc()
        duration.observe(elapsed)
        if self.access_log or status >= 500:
            user = state.get("user")  # set by authentication
            (log.warning if status >= 500 else log.info)(
                "request",
                method=method,
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                user_id=str(user.id) if user is not None else None,
                wallet=user.wallet_address if user is not None else None,
            )
