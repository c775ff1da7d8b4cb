"""Request dependencies: the container, the signed-in user, the compliance gate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pourtier.application.auth import Authenticated
from pourtier.application.common import ClientInfo
from pourtier.di.container import Container
from pourtier.domain.errors import AuthenticationFailed

_bearer = HTTPBearer(auto_error=False, description="Access token from sign-in")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def current_auth(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Authenticated:
    if credentials is None:
        raise AuthenticationFailed("token", "missing bearer access token")
    auth = await container.auth.authenticate(credentials.credentials)
    request.state.user_id = str(auth.user.id)
    request.state.wallet = auth.user.wallet_address
    return auth


CurrentAuth = Annotated[Authenticated, Depends(current_auth)]


async def require_compliance(
    auth: CurrentAuth, container: ContainerDep
) -> Authenticated:
    """Business endpoints depend on this: 403 until active documents are accepted."""
    await container.legal.require_compliance(auth.user.id)
    return auth


CompliantAuth = Annotated[Authenticated, Depends(require_compliance)]


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip_address=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
    )


ClientDep = Annotated[ClientInfo, Depends(client_info)]
