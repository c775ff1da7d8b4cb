"""Wallet sign-in. Public, except the logout and session routes.

A sign-in is two calls, `/nonce` then `/login`, the busiest of the API: they
take the request and call what they need themselves (container, client,
wallet budget) rather than have FastAPI resolve each as a dependency, and
return their JSON made (`ModelResponse`) rather than have FastAPI validate
the model again before encoding it. Their schema is declared as before.
"""

from __future__ import annotations

import base64
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status

from pourtier.presentation.deps import (
    ClientDep,
    ContainerDep,
    CurrentAuth,
    client_info,
    container_of,
)
from pourtier.presentation.responses import ModelResponse, errors
from pourtier.presentation.route_limits import WalletBudgetDep, wallet_budget
from pourtier.presentation.schemas.auth import (
    LogoutAllOut,
    NonceIn,
    NonceOut,
    RefreshIn,
    RegisterIn,
    SessionOut,
    SignedIn,
    SignInInputOut,
    TokenOut,
    VerifyOut,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/nonce", response_model=NonceOut)
async def issue_nonce(
    request: Request, body: Annotated[NonceIn, Body(default_factory=NonceIn)]
) -> Response:
    """A nonce to sign in with. Without `wallet_address` (or without a body)
    it is for Wallet Standard `signIn`: pass `sign_in_input` to the wallet
    and send its output to `/verify`, `/register` or `/login`."""
    issued = await container_of(request).auth.issue_nonce(
        body.wallet_address, body.purpose
    )
    unsigned = issued.transaction() if body.method == "transaction" else None
    transaction = None if unsigned is None else base64.b64encode(unsigned).decode()
    return ModelResponse(
        NonceOut(
            nonce=issued.nonce.value,
            message=issued.message,
            sign_in_input=SignInInputOut.model_validate(issued.sign_in_input),
            issued_at=issued.nonce.issued_at,
            expires_at=issued.nonce.expires_at,
            transaction=transaction,
        )
    )


@router.post("/verify", responses=errors(401))
async def verify(
    body: SignedIn, container: ContainerDep, budget: WalletBudgetDep
) -> VerifyOut:
    proof = body.proof()
    exists = await container.auth.verify(proof, budget)
    return VerifyOut(wallet_address=proof.wallet_address, user_exists=exists)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 409, s409="This wallet already has an account"),
)
async def register(
    body: RegisterIn,
    container: ContainerDep,
    client: ClientDep,
    budget: WalletBudgetDep,
) -> TokenOut:
    pair = await container.auth.register(
        body.proof(), body.accepted_document_ids, client, budget
    )
    return TokenOut.model_validate(pair)


@router.post(
    "/login",
    response_model=TokenOut,
    responses=errors(401, 404, s404="No account for this wallet"),
)
async def login(body: SignedIn, request: Request) -> Response:
    container = container_of(request)
    pair = await container.auth.login(
        body.proof(),
        await client_info(request),
        await wallet_budget(request, container),
    )
    return ModelResponse(TokenOut.model_validate(pair))


@router.post("/refresh", responses=errors(401))
async def refresh(body: RefreshIn, container: ContainerDep) -> TokenOut:
    return TokenOut.model_validate(await container.auth.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(auth: CurrentAuth, container: ContainerDep) -> None:
    await container.auth.logout(auth.claims.session_id)


@router.post("/logout-all")
async def logout_all(auth: CurrentAuth, container: ContainerDep) -> LogoutAllOut:
    ended = await container.auth.logout_all(auth.user.id)
    return LogoutAllOut(sessions_ended=len(ended))


@router.get("/sessions")
async def list_sessions(auth: CurrentAuth, container: ContainerDep) -> list[SessionOut]:
    current = auth.claims.session_id
    return [
        SessionOut.model_validate(vars(session) | {"current": session.id == current})
        for session in await container.auth.sessions(auth.user.id)
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, s404="No such live session of yours"),
)
async def end_session(
    session_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> None:
    """End one of your sessions; ending the current one is a logout."""
    await container.auth.end_session(auth.user.id, session_id)
