from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from pourtier.domain.legal import LegalDocument
from pourtier.presentation.schemas.common import RequestBody


class LegalDocumentOut(BaseModel):
    id: uuid.UUID
    document_type: str
    version: str
    title: str
    content: str
    content_sha256: str
    status: str
    effective_date: datetime

    @classmethod
    def of(cls, doc: LegalDocument) -> LegalDocumentOut:
        return cls(
            id=doc.id,
            document_type=doc.document_type.value,
            version=doc.version,
            title=doc.title,
            content=doc.content,
            content_sha256=doc.content_sha256,
            status=doc.status.value,
            effective_date=doc.effective_date,
        )


class PendingDocumentOut(BaseModel):
    """A pending document named without its (long) content."""

    id: uuid.UUID
    document_type: str
    version: str
    title: str

    @classmethod
    def of(cls, doc: LegalDocument) -> PendingDocumentOut:
        return cls(
            id=doc.id,
            document_type=doc.document_type.value,
            version=doc.version,
            title=doc.title,
        )


class AcceptIn(RequestBody):
    document_ids: list[uuid.UUID] = Field(min_length=1, max_length=16)


class ComplianceOut(BaseModel):
    is_compliant: bool
    pending_documents: list[PendingDocumentOut]


class ComplianceErrorOut(BaseModel):
    detail: str
    pending_documents: list[PendingDocumentOut]
