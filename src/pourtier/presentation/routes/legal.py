"""Legal documents: the list is public, accepting needs a signed-in user."""

from __future__ import annotations

from fastapi import APIRouter

from pourtier.application.legal import Compliance
from pourtier.presentation.deps import ClientDep, ContainerDep, CurrentAuth
from pourtier.presentation.schemas.legal import (
    AcceptIn,
    ComplianceOut,
    LegalDocumentOut,
    PendingDocumentOut,
)

public_router = APIRouter(prefix="/api/legal", tags=["legal"])
router = APIRouter(prefix="/api/legal", tags=["legal"])


def _compliance(compliance: Compliance) -> ComplianceOut:
    return ComplianceOut(
        is_compliant=compliance.is_compliant,
        pending_documents=[PendingDocumentOut.of(d) for d in compliance.pending],
    )


@public_router.get("/documents")
async def documents(container: ContainerDep) -> list[LegalDocumentOut]:
    return [LegalDocumentOut.of(d) for d in await container.legal.active_documents()]


@router.post("/accept")
async def accept(
    body: AcceptIn, auth: CurrentAuth, container: ContainerDep, client: ClientDep
) -> ComplianceOut:
    return _compliance(
        await container.legal.accept(auth.user.id, body.document_ids, client)
    )


@router.get("/compliance")
async def compliance(auth: CurrentAuth, container: ContainerDep) -> ComplianceOut:
    return _compliance(await container.legal.compliance(auth.user.id))
