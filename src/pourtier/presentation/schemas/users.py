from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from pourtier.domain.users import DISPLAY_NAME_MAX_LENGTH, EMAIL_MAX_LENGTH, User
from pourtier.presentation.schemas.common import RequestBody
from pourtier.presentation.schemas.legal import PendingDocumentOut


class UserOut(BaseModel):
    id: uuid.UUID
    wallet_address: str
    display_name: str | None
    email: str | None
    kyc_status: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            wallet_address=user.wallet_address,
            display_name=user.display_name,
            email=user.email,
            kyc_status=user.kyc_status.value,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
        )


class ProfileOut(UserOut):
    pending_documents: list[PendingDocumentOut]

    @classmethod
    def of_user(cls, user: User, pending: list[PendingDocumentOut]) -> ProfileOut:
        """Built in one validation (GET /api/users/me is a hot path)."""
        return cls(
            id=user.id,
            wallet_address=user.wallet_address,
            display_name=user.display_name,
            email=user.email,
            kyc_status=user.kyc_status.value,
            created_at=user.created_at,
            updated_at=user.updated_at,
            last_login_at=user.last_login_at,
            pending_documents=pending,
        )


class ProfilePatchIn(RequestBody):
    display_name: str | None = Field(
        default=None, max_length=DISPLAY_NAME_MAX_LENGTH * 2
    )
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH * 2)
