"""Profiles. Mounted behind authentication (see app.py); `GET /me` is
mounted on the app itself, first, being the most-read route."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from pourtier.presentation.deps import (
    ContainerDep,
    CurrentAuth,
    container_of,
    current_auth,
    gated_by,
)
from pourtier.presentation.responses import ModelResponse, errors
from pourtier.presentation.schemas.users import ProfileOut, ProfilePatchIn, UserOut

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


@router.get("/{user_id}", responses=errors(404, s404="Not yours, or unknown"))
async def get_user(
    user_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> UserOut:
    user = await container.users.get_visible(auth.user.id, user_id)
    return UserOut.model_validate(user)
