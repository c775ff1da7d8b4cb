"""Legal documents: the list is public, accepting needs a signed-in user."""

from __future__ import annotations

from fastapi import APIRouter

from pourtier.presentation.deps import ClientDep, ContainerDep, CurrentAuth
from pourtier.presentation.schemas.legal import (
    AcceptIn,
    ComplianceOut,
    LegalDocumentOut,
)

public_router = APIRouter(prefix="/api/legal", tags=["legal"])
router = APIRouter(prefix="/api/legal", tags=["legal"])


@public_router.get("/documents")
async def documents(container: ContainerDep) -> list[LegalDocumentOut]:
    documents = await container.legal.active_documents()
    return [LegalDocumentOut.model_validate(d) for d in documents]


@router.post("/accept")
async def accept(
    body: AcceptIn, auth: CurrentAuth, container: ContainerDep, client: ClientDep
) -> ComplianceOut:
    return ComplianceOut.model_validate(
        await container.legal.accept(auth.user.id, body.document_ids, client)
    )


@router.get("/compliance")
async def compliance(auth: CurrentAuth, container: ContainerDep) -> ComplianceOut:
    return ComplianceOut.model_validate(await container.legal.compliance(auth.user.id))
