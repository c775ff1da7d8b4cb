"""Operators' routes. Mounted behind the admin gate (see app.py): every route
here answers 401 without a token and 403 to a user without the admin role.
Other users' data is read here and nowhere else."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from pourtier.domain.audit import AUDIT_ACTION_MAX_LENGTH, AuditQuery
from pourtier.domain.users import KycStatus
from pourtier.presentation.deps import ActingAdmin, ContainerDep
from pourtier.presentation.responses import errors
from pourtier.presentation.schemas.admin import (
    AdminUserOut,
    AuditEntryOut,
    PublishDocumentIn,
    SessionsEndedOut,
    UserRecordOut,
)
from pourtier.presentation.schemas.kyc import (
    DecisionIn,
    KycCaseOut,
    KycOut,
    KycRecordOut,
)
from pourtier.presentation.schemas.legal import LegalDocumentOut

router = APIRouter(prefix="/api/admin", tags=["admin"])

# Text PostgreSQL cannot hold (NUL) is refused with the other bad input.
NO_NUL = r"^[^\x00]*$"
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("/users")
async def users(
    container: ContainerDep,
    query: Annotated[
        str | None,
        Query(
            max_length=254,
            pattern=NO_NUL,
            description="A user id, an email, or a wallet (primary or linked) "
            "or its prefix (case-insensitive); none: every user",
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[AdminUserOut]:
    found = await container.admin.search_users(query, limit, offset)
    return [AdminUserOut.of(user, roles) for user, roles in found]


@router.get("/users/{user_id}", responses=errors(404, s404="No such user"))
async def user(user_id: uuid.UUID, container: ContainerDep) -> UserRecordOut:
    """Everything of one user, KYC included (its details decrypted)."""
    record = await container.admin.user_record(user_id)
    kyc = KycRecordOut.of(*await container.kyc.case(user_id))
    return UserRecordOut.of(record, kyc)


@router.post(
    "/users/{user_id}/sessions/revoke", responses=errors(404, s404="No such user")
)
async def revoke_sessions(
    user_id: uuid.UUID, actor: ActingAdmin, container: ContainerDep
) -> SessionsEndedOut:
    return SessionsEndedOut.model_validate(
        await container.admin.end_sessions(actor, user_id)
    )


@router.post(
    "/legal/documents",
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, s409="This version of the document already exists"),
)
async def publish_document(
    body: PublishDocumentIn, actor: ActingAdmin, container: ContainerDep
) -> LegalDocumentOut:
    document = await container.legal.publish(
        body.document_type,
        body.version,
        body.title,
        body.content,
        body.effective_date,
        actor=actor,
    )
    return LegalDocumentOut.model_validate(document)


@router.get("/audit")
async def audit(
    container: ContainerDep,
    actor: Annotated[
        str | None,
        Query(
            max_length=64, pattern=NO_NUL, description="A user id, a wallet, or `cli`"
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=AUDIT_ACTION_MAX_LENGTH,
            pattern=NO_NUL,
            description="e.g. `role.grant`, `sessions.revoke`, `legal.publish`",
        ),
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[AuditEntryOut]:
    """Newest first."""
    entries = await container.admin.audit_log(AuditQuery(actor, action, limit, offset))
    return [AuditEntryOut.model_validate(entry) for entry in entries]


@router.get("/kyc")
async def kyc_queue(
    container: ContainerDep,
    status: KycStatus = KycStatus.IN_REVIEW,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[KycCaseOut]:
    """Cases in `status`, the longest waiting first."""
    cases = await container.kyc.queue(status, limit, offset)
    return [KycCaseOut.model_validate(case) for case in cases]


@router.get("/kyc/{user_id}", responses=errors(404, s404="No such user"))
async def kyc_record(user_id: uuid.UUID, container: ContainerDep) -> KycRecordOut:
    """The case with the personal details decrypted, and its history."""
    case, details, events = await container.kyc.case(user_id)
    if case is None:
        await container.admin.user_record(user_id)  # 404 for an unknown user
    return KycRecordOut.of(case, details, events)


@router.post(
    "/kyc/{user_id}/decision",
    responses=errors(404, 409, s404="No KYC case", s409="Not awaiting a decision"),
)
async def kyc_decision(
    user_id: uuid.UUID, body: DecisionIn, actor: ActingAdmin, container: ContainerDep
) -> KycOut:
    view = await container.kyc.decide(
        actor, user_id, body.decision == "approve", body.rejection_type, body.reason
    )
    return KycOut.of(view)
