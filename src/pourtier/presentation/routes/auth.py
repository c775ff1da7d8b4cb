"""Wallet sign-in. Public, except the two logout routes."""

from __future__ import annotations

from fastapi import APIRouter, status

from pourtier.presentation.deps import ClientDep, ContainerDep, CurrentAuth
from pourtier.presentation.responses import errors
from pourtier.presentation.route_limits import WalletBudgetDep
from pourtier.presentation.schemas.auth import (
    LogoutAllOut,
    NonceIn,
    NonceOut,
    RefreshIn,
    RegisterIn,
    SignedIn,
    TokenOut,
    VerifyOut,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/nonce")
async def issue_nonce(body: NonceIn, container: ContainerDep) -> NonceOut:
    message = await container.auth.issue_nonce(body.wallet_address)
    return NonceOut(
        nonce=message.nonce,
        message=message.render(),
        issued_at=message.issued_at,
        expires_at=message.expiration_time,
    )


@router.post("/verify", responses=errors(401))
async def verify(
    body: SignedIn, container: ContainerDep, budget: WalletBudgetDep
) -> VerifyOut:
    exists = await container.auth.verify(
        body.wallet_address, body.message, body.signature, budget
    )
    return VerifyOut(wallet_address=body.wallet_address, user_exists=exists)


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
        body.wallet_address,
        body.message,
        body.signature,
        body.accepted_document_ids,
        client,
        budget,
    )
    return TokenOut.model_validate(pair)


@router.post("/login", responses=errors(401, 404, s404="No account for this wallet"))
async def login(
    body: SignedIn, container: ContainerDep, client: ClientDep, budget: WalletBudgetDep
) -> TokenOut:
    pair = await container.auth.login(
        body.wallet_address, body.message, body.signature, client, budget
    )
    return TokenOut.model_validate(pair)


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
