"""Request dependencies: the container, the signed-in user, the compliance and
admin gates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from pourtier.application.auth import Authenticated
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.auth import ClientInfo
from pourtier.domain.errors import AuthenticationFailed
from pourtier.presentation.client_ip import request_client_ip


def container_of(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# Dependencies are `async def` even when they await nothing: FastAPI runs a
# plain `def` dependency in the thread pool, a thread hop on every request.


async def get_container(request: Request) -> Container:
    return container_of(request)


ContainerDep = Annotated[Container, Depends(get_container)]


async def current_auth(request: Request) -> Authenticated:
    """The signed-in caller, from `Authorization: Bearer <access token>`.

    The header is read here rather than through FastAPI's `HTTPBearer`, one
    dependency less per request; openapi_auth.py declares the scheme. Once
    per request: the hot routes call it themselves, after a guard may have.
    """
    state: dict[str, Any] = request.scope.setdefault("state", {})
    known: Authenticated | None = state.get("auth")
    if known is not None:
        return known
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed("token", "missing bearer access token")
    auth = await container_of(request).auth.authenticate(token)
    state["auth"] = auth
    state["user"] = auth.user  # for the access log
    return auth


CurrentAuth = Annotated[Authenticated, Depends(current_auth)]


async def require_compliance(request: Request, auth: CurrentAuth) -> Authenticated:
    """Business endpoints depend on this: 403 until active documents are accepted."""
    await container_of(request).legal.require_compliance(auth.user.id)
    return auth


CompliantAuth = Annotated[Authenticated, Depends(require_compliance)]


async def require_admin(request: Request, auth: CurrentAuth) -> Authenticated:
    """Admin routes depend on this: 403 unless the caller holds the admin role,
    read from their user row on every request (a revoke is seen at once)."""
    container_of(request).admin.require_admin(auth.user)
    return auth


AdminAuth = Annotated[Authenticated, Depends(require_admin)]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def gated_by(*gates: Callable[..., Any]) -> Callable[[Endpoint], Endpoint]:
    """Marks an endpoint that calls these gates itself instead of depending on
    them (no resolution for FastAPI to do); the OpenAPI schema counts them as
    its dependencies (`responses.gates`)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.__dict__["gates"] = gates
        return endpoint

    return mark


def client_ip(request: Request) -> str | None:
    """The socket's peer, or behind a trusted proxy the address it names."""
    proxies = container_of(request).settings.TRUSTED_PROXIES
    return request_client_ip(request, proxies)


async def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
    )


ClientDep = Annotated[ClientInfo, Depends(client_info)]


async def acting_admin(request: Request, auth: AdminAuth) -> Actor:
    """Who the audit log names for this request: the admin, the request id
    (X-Request-ID, see middleware.py) and the client's address."""
    state: dict[str, Any] = request.scope.get("state", {})
    return Actor.admin(auth.user, state.get("request_id"), client_ip(request))


ActingAdmin = Annotated[Actor, Depends(acting_admin)]
