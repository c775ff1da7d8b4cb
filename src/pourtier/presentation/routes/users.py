"""Profiles. Mounted behind authentication (see app.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from pourtier.application.users import Profile
from pourtier.presentation.deps import ContainerDep, CurrentAuth
from pourtier.presentation.responses import errors
from pourtier.presentation.schemas.legal import PendingDocumentOut
from pourtier.presentation.schemas.users import ProfileOut, ProfilePatchIn, UserOut

router = APIRouter(prefix="/api/users", tags=["users"])


def _profile(profile: Profile) -> ProfileOut:
    return ProfileOut.of_user(
        profile.user, [PendingDocumentOut.of(d) for d in profile.pending_documents]
    )


@router.get("/me")
async def me(auth: CurrentAuth, container: ContainerDep) -> ProfileOut:
    return _profile(await container.users.profile(auth.user.id))


@router.patch("/me")
async def update_me(
    body: ProfilePatchIn, auth: CurrentAuth, container: ContainerDep
) -> ProfileOut:
    changes = body.model_dump(exclude_unset=True)
    return _profile(await container.users.update_profile(auth.user.id, changes))


@router.get("/{user_id}", responses=errors(404, s404="Not yours, or unknown"))
async def get_user(
    user_id: uuid.UUID, auth: CurrentAuth, container: ContainerDep
) -> UserOut:
    return UserOut.of(await container.users.get_visible(auth.user.id, user_id))
