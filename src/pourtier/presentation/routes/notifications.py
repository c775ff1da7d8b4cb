"""The signed-in user's notifications. Authenticated, not behind the legal
gate: a new legal version to accept is itself one of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pourtier.presentation.deps import ContainerDep, CurrentAuth
from pourtier.presentation.schemas.notifications import (
    MarkReadIn,
    MarkReadOut,
    NotificationsOut,
)

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("")
async def list_notifications(
    auth: CurrentAuth, container: ContainerDep, limit: Limit = 20, offset: Offset = 0
) -> NotificationsOut:
    """Newest first, with how many are unread in all."""
    page = await container.notifications.page(auth.user.id, limit, offset)
    return NotificationsOut.of(page, limit, offset)


@router.post("/read")
async def mark_read(
    body: MarkReadIn, auth: CurrentAuth, container: ContainerDep
) -> MarkReadOut:
    ids = None if body.all else body.ids
    marked = await container.notifications.mark_read(auth.user.id, ids)
    page = await container.notifications.page(auth.user.id, 1, 0)
    return MarkReadOut(marked=marked, unread=page.unread)
