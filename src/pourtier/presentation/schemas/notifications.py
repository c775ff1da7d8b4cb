"""In-app notifications: the page, and marking read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import Field, model_validator

from pourtier.domain.notifications import NotificationKind, NotificationPage
from pourtier.presentation.schemas.common import Out, RequestBody


class NotificationOut(Out):
    id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationsOut(Out):
    items: list[NotificationOut]
    total: int
    unread: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page: NotificationPage, limit: int, offset: int) -> Self:
        return cls(
            items=[NotificationOut.model_validate(n) for n in page.items],
            total=page.total,
            unread=page.unread,
            limit=limit,
            offset=offset,
        )


class MarkReadIn(RequestBody):
    """Either `ids` (yours; others' are ignored) or `all: true`."""

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=500)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true, not both")
        return self


class MarkReadOut(Out):
    marked: int
    unread: int
