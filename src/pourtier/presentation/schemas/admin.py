"""What operators see: any user's records, and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from pourtier.application.admin import UserRecord
from pourtier.domain.legal import Acceptance, DocumentType
from pourtier.domain.users import Role, User
from pourtier.presentation.schemas.common import Out, RequestBody, Usdc
from pourtier.presentation.schemas.escrow import TransactionOut
from pourtier.presentation.schemas.kyc import KycRecordOut
from pourtier.presentation.schemas.subscriptions import SubscriptionStateOut
from pourtier.presentation.schemas.users import UserOut, WalletOut


class AdminUserOut(UserOut):
    role: str = Field(description="The stored role: `user` or `admin`")
    roles: list[str] = Field(
        description="Roles held now, the stored one or by ADMIN_WALLETS: "
        '`["admin"]` or `[]`'
    )

    @classmethod
    def of(cls, user: User, roles: tuple[Role, ...]) -> AdminUserOut:
        return cls.model_validate(vars(user) | {"roles": list(roles)})


class SessionOut(Out):
    id: uuid.UUID
    created_at: datetime
    ip_address: str | None
    user_agent: str | None
    revoked_at: datetime | None
    revoked_reason: str | None


class EscrowSummaryOut(Out):
    balance: Usdc = Field(description="The ledger's balance")
    recent_transactions: list[TransactionOut]


class UserRecordOut(Out):
    user: AdminUserOut
    legal_acceptances: list[Acceptance]
    escrow: EscrowSummaryOut
    subscriptions: list[SubscriptionStateOut]
    sessions: list[SessionOut] = Field(description="Newest first, ended ones too")
    wallets: list[WalletOut] = Field(description="The primary first, then linked")
    kyc: KycRecordOut

    @classmethod
    def of(cls, record: UserRecord, kyc: KycRecordOut) -> UserRecordOut:
        return cls.model_validate(
            {
                "kyc": kyc,
                "user": AdminUserOut.of(record.user, record.roles),
                "legal_acceptances": record.acceptances,
                "escrow": record.escrow,
                "subscriptions": record.subscriptions,
                "sessions": record.sessions,
                "wallets": [WalletOut.of(w, record.user) for w in record.wallets],
            }
        )


class SessionsEndedOut(Out):
    user_id: uuid.UUID
    session_ids: list[uuid.UUID] = Field(description="The sessions this ended")


class PublishDocumentIn(RequestBody):
    document_type: DocumentType
    version: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1)
    effective_date: datetime | None = Field(default=None, description="Default: now")


class AuditEntryOut(Out):
    id: uuid.UUID
    occurred_at: datetime
    actor_type: str = Field(description="`user` (an admin, by the API) or `cli`")
    actor_id: uuid.UUID | None
    actor_wallet: str | None
    action: str
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    ip_address: str | None
