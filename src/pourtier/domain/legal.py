"""Versioned legal documents and the append-only record of their acceptance."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class DocumentType(StrEnum):
    TERMS_OF_SERVICE = "terms_of_service"
    PRIVACY_POLICY = "privacy_policy"
    RISK_DISCLOSURE = "risk_disclosure"


class DocumentStatus(StrEnum):
    """Publishing a version archives the active one: one active per type."""

    ACTIVE = "active"
    ARCHIVED = "archived"


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


@dataclass
class LegalDocument:
    document_type: DocumentType
    version: str
    title: str
    content: str
    effective_date: datetime
    status: DocumentStatus = DocumentStatus.ACTIVE
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    content_sha256: str = ""

    def __post_init__(self) -> None:
        if not self.content_sha256:
            self.content_sha256 = content_hash(self.content)


@dataclass(frozen=True)
class Acceptance:
    """What exactly was accepted, pinned by version and content hash."""

    user_id: uuid.UUID
    document_id: uuid.UUID
    document_version: str
    content_sha256: str
    accepted_at: datetime
    ip_address: str | None
    user_agent: str | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def of(
        cls,
        user_id: uuid.UUID,
        document: LegalDocument,
        now: datetime,
        ip_address: str | None,
        user_agent: str | None,
    ) -> Acceptance:
        return cls(
            user_id=user_id,
            document_id=document.id,
            document_version=document.version,
            content_sha256=document.content_sha256,
            accepted_at=now,
            ip_address=ip_address,
            user_agent=user_agent,
        )


def pending_documents(
    active: Sequence[LegalDocument], accepted_ids: Iterable[uuid.UUID]
) -> list[LegalDocument]:
    accepted = set(accepted_ids)
    return [doc for doc in active if doc.id not in accepted]


class LegalRepository(Protocol):
    async def active_documents(self) -> list[LegalDocument]: ...

    async def get_document(self, document_id: uuid.UUID) -> LegalDocument | None: ...

    async def accepted_document_ids(self, user_id: uuid.UUID) -> set[uuid.UUID]: ...

    async def add_acceptances(self, acceptances: Sequence[Acceptance]) -> None: ...

    async def acceptances_of(self, user_id: uuid.UUID) -> list[Acceptance]:
        """Every acceptance of the user, newest first."""
        ...

    async def publish(self, document: LegalDocument) -> None:
        """Archive the active document of its type and make this one active."""
        ...

    async def count_documents(self) -> int: ...
