from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from pourtier.application.users import Profile
from pourtier.domain.users import (
    DISPLAY_NAME_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    User,
    UserWallet,
)
from pourtier.presentation.schemas.common import Out, RequestBody
from pourtier.presentation.schemas.legal import PendingDocumentOut


class UserOut(Out):
    id: uuid.UUID
    wallet_address: str
    display_name: str | None
    email: str | None
    kyc_status: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class ProfileOut(UserOut):
    pending_documents: list[PendingDocumentOut]
    roles: list[str] = Field(
        description='Roles beyond a plain user\'s: `["admin"]` or `[]`'
    )

    @classmethod
    def of(cls, profile: Profile) -> ProfileOut:
        """The user's fields, pending documents and roles, in one validation."""
        fields = vars(profile.user) | {
            "pending_documents": profile.pending_documents,
            "roles": profile.roles,
        }
        return cls.model_validate(fields)


class ProfilePatchIn(RequestBody):
    display_name: str | None = Field(
        default=None, max_length=DISPLAY_NAME_MAX_LENGTH * 2
    )
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH * 2)


class WalletOut(Out):
    """A wallet that signs in to the account."""

    wallet_address: str
    linked_at: datetime = Field(description="When linked; the primary's: signup")
    primary: bool = Field(
        description="The account's own wallet, the escrow's owner: it cannot be "
        "unlinked, and access tokens name it"
    )

    @classmethod
    def of(cls, wallet: UserWallet, user: User) -> WalletOut:
        return cls(
            wallet_address=wallet.wallet_address,
            linked_at=wallet.linked_at,
            primary=wallet.is_primary_of(user),
        )
