from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from pourtier.presentation.schemas.common import Out, RequestBody


class PendingDocumentOut(Out):
    """A pending document named without its (long) content."""

    id: uuid.UUID
    document_type: str
    version: str
    title: str


class LegalDocumentOut(PendingDocumentOut):
    content: str
    content_sha256: str
    status: str
    effective_date: datetime


class AcceptIn(RequestBody):
    document_ids: list[uuid.UUID] = Field(min_length=1, max_length=16)


class ComplianceOut(Out):
    is_compliant: bool
    pending_documents: list[PendingDocumentOut]


class ComplianceErrorOut(Out):
    detail: str
    pending_documents: list[PendingDocumentOut]
