"""Profiles. Mounted behind authentication (see app.py); `GET /me` is
mounted on the app itself, first, being the most-read route."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from pourtier.domain.users import WALLET_ADDRESS_MAX_LENGTH
from pourtier.presentation.deps import (
    ContainerDep,
    CurrentAuth,
    container_of,
    current_auth,
    gated_by,
)
from pourtier.presentation.responses import ModelResponse, errors
from pourtier.presentation.route_limits import WalletBudgetDep
from pourtier.presentation.schemas.auth import SignedIn
from pourtier.presentation.schemas.users import (
    ProfileOut,
    ProfilePatchIn,
    UserOut,
    WalletOut,
)

router = APIRouter(prefix="/api/users", tags=["users"])


@gated_by(current_auth)
async def me(request: Request) -> Response:
    # The gate by a plain call, not a dependency: nothing for FastAPI to resolve.
    auth = await current_auth(request)
    profile = await container_of(request).users.profile(auth.user.id)
    return ModelResponse(ProfileOut.of(profile))


@router.patch("/me")
async def update_me(
    body: ProfilePatchIn, auth: CurrentAuth, container: ContainerDep
) -> ProfileOut:
    changes = body.model_dump(exclude_unset=True)
    return ProfileOut.of(await container.users.update_profile(auth.user.id, changes))


@router.get("/me/wallets")
async def list_wallets(auth: CurrentAuth, container: ContainerDep) -> list[WalletOut]:
    """The wallets that sign in to your account, the primary first."""
    wallets = await container.users.wallets(auth.user)
    return [WalletOut.of(wallet, auth.user) for wallet in wallets]


@router.post(
    "/me/wallets",
    status_code=status.HTTP_201_CREATED,
    responses=errors(
        401,
        409,
        s401="The access token, or the link proof: `check` names what failed",
        s409="The wallet already belongs to an account, maybe yours",
    ),
)
async def link_wallet(
    body: SignedIn, auth: CurrentAuth, container: ContainerDep, budget: WalletBudgetDep
) -> WalletOut:
    """Link another wallet, proven by a message it signed with a `link` nonce
    (`POST /api/auth/nonce` with `purpose: "link"`); it then signs in to your
    account. A 401 names the check that failed, as for a sign-in."""
    wallet = await container.auth.link_wallet(auth.user.id, body.proof(), budget)
    return WalletOut.of(wallet, auth.user)


@router.delete(
    "/me/wallets/{address}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        404, 409, s404="Not a wallet of yours", s409="The primary wallet stays"
    ),
)
async def unlink_wallet(
    address: Annotated[str, Path(min_length=32, max_length=WALLET_ADDRESS_MAX_LENGTH)],
    auth: CurrentAuth,
    container: ContainerDep,
) -> None:
    """Unlink a wallet: it no longer signs in to your account (sessions it
    opened stay, like any other of yours)."""
    await container.users.unlink_wallet(auth.user, address)


@router.get("/{user_id}", responses=errors(404, s404="Not yours, or unknown"))
async def get_user(
    user_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> UserOut:
    user = await container.users.get_visible(auth.user.id, user_id)
    return UserOut.model_validate(user)
