"""Rate limits as route dependencies, and the headers that report them.

Each router is mounted with the dependencies of its group (see app.py):

- sign-in (`auth`): per client IP; per wallet only once the wallet's
  signature has verified (`wallet_budget`), since anyone may name any wallet;
- other routes: per client IP before authentication, so bad tokens are
  limited too, then per user once the token is verified; `read` for GET,
  `write` for the rest.

An allowed request's tightest window is reported on its response, whatever
the status, as `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (seconds until the window frees a request). A refused one
gets 429 with the same headers and `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pourtier.application.auth import WalletBudget, unlimited
from pourtier.infrastructure.rate_limiter import Decision, Key, RateLimiter
from pourtier.presentation.client_ip import rate_limit_key
from pourtier.presentation.deps import (
    ContainerDep,
    CurrentAuth,
    client_ip,
    current_auth,
    require_admin,
    require_compliance,
)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATE_KEY = "rate_limit"
EXPOSED_HEADERS = [
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]

Dependency = Callable[..., Awaitable[None]]


def limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_after),
    }


class TooManyRequests(HTTPException):
    def __init__(self, decision: Decision) -> None:
        retry_after = max(decision.reset_after, 1)
        super().__init__(
            429,
            f"too many requests; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after), **limit_headers(decision)},
        )


def _group(request: Request, group: str | None) -> str:
    if group is not None:
        return group
    return "read" if request.method in READ_METHODS else "write"


async def _enforce(
    request: Request, limiter: RateLimiter, group: str, keys: list[Key]
) -> None:
    decision = await limiter.hit(group, *keys)
    state: dict[str, Any] = request.scope.setdefault("state", {})
    if not decision.allowed:
        state.pop(STATE_KEY, None)
        raise TooManyRequests(decision)
    shown: Decision | None = state.get(STATE_KEY)
    if shown is None or decision.remaining < shown.remaining:
        state[STATE_KEY] = decision


def rate_limit(group: str | None = None) -> Dependency:
    """Per client IP, in `group`; `None`: read or write by the method."""

    async def limit_client(request: Request, container: ContainerDep) -> None:
        limiter = container.rate_limiter
        if limiter is None:
            return
        keys: list[Key] = [("ip", rate_limit_key(client_ip(request)))]
        await _enforce(request, limiter, _group(request, group), keys)

    return limit_client


async def wallet_budget(request: Request, container: ContainerDep) -> WalletBudget:
    """The sign-in budget of a wallet, for the use case to spend once the
    wallet's signature has verified; its window is reported like the IP's."""
    limiter = container.rate_limiter
    if limiter is None:
        return unlimited

    async def spend(wallet_address: str) -> None:
        await _enforce(request, limiter, "auth", [("wallet", wallet_address)])

    return spend


WalletBudgetDep = Annotated[WalletBudget, Depends(wallet_budget)]


def rate_limit_user(group: str | None = None) -> Dependency:
    """Per signed-in user; runs authentication first (cached for the route)."""

    async def limit_user(
        request: Request, container: ContainerDep, auth: CurrentAuth
    ) -> None:
        limiter = container.rate_limiter
        if limiter is None:
            return
        keys: list[Key] = [("user", str(auth.user.id))]
        await _enforce(request, limiter, _group(request, group), keys)

    return limit_user


limit_sign_in = rate_limit("auth")
limit_client = rate_limit()
limit_user = rate_limit_user()


@dataclass(frozen=True)
class RouteGuards:
    """The dependencies each kind of router is mounted with."""

    sign_in: list[Any]
    public: list[Any]
    authenticated: list[Any]
    compliant: list[Any]
    admin: list[Any]
    """Signed in and holding the admin role: every route of the router."""
    limits: list[Any]
    """`authenticated` or `compliant` less the gate itself, for a route that
    declares `CurrentAuth` or `CompliantAuth` as its parameter: the gate is
    then resolved once, where the guard list would have put it."""


def route_guards(*, limited: bool) -> RouteGuards:
    """Per client IP before authentication, per user after it; without
    limiting, no dependency at all is added to any request."""
    if not limited:
        return RouteGuards(
            sign_in=[],
            public=[],
            authenticated=[Depends(current_auth)],
            compliant=[Depends(require_compliance)],
            admin=[Depends(require_admin)],
            limits=[],
        )
    client, user = Depends(limit_client), Depends(limit_user)
    return RouteGuards(
        sign_in=[Depends(limit_sign_in)],
        public=[client],
        authenticated=[client, Depends(current_auth), user],
        compliant=[client, user, Depends(require_compliance)],
        admin=[client, user, Depends(require_admin)],
        limits=[client, user],
    )


class RateLimitHeadersMiddleware:
    """Puts the request's rate-limit headers on whatever response it gets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision: Decision | None = scope.get("state", {}).get(STATE_KEY)
                if decision is not None:
                    message["headers"] = [
                        *message.get("headers", []),
                        *(
                            (name.lower().encode(), value.encode())
                            for name, value in limit_headers(decision).items()
                        ),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
