"""Legal documents and acceptances on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pourtier.domain.cache import ACTIVE_DOCUMENTS_KEY, accepted_documents_key
from pourtier.domain.errors import Conflict
from pourtier.domain.legal import (
    Acceptance,
    DocumentStatus,
    DocumentType,
    LegalDocument,
)
from pourtier.infrastructure.persistence.models import (
    LegalAcceptanceRow,
    LegalDocumentRow,
)


def _to_document(row: LegalDocumentRow) -> LegalDocument:
    return LegalDocument(
        id=row.id,
        document_type=DocumentType(row.document_type),
        version=row.version,
        title=row.title,
        content=row.content,
        content_sha256=row.content_sha256,
        status=DocumentStatus(row.status),
        effective_date=row.effective_date,
    )


class SqlLegalRepository:
    def __init__(self, session: AsyncSession, changed: set[str] | None = None) -> None:
        self._session = session
        self._changed = changed if changed is not None else set()

    async def active_documents(self) -> list[LegalDocument]:
        rows = await self._session.scalars(
            select(LegalDocumentRow)
            .where(LegalDocumentRow.status == DocumentStatus.ACTIVE.value)
            .order_by(LegalDocumentRow.document_type)
        )
        return [_to_document(row) for row in rows]

    async def get_document(self, document_id: uuid.UUID) -> LegalDocument | None:
        row = await self._session.get(LegalDocumentRow, document_id)
        return _to_document(row) if row else None

    async def accepted_document_ids(self, user_id: uuid.UUID) -> set[uuid.UUID]:
        rows = await self._session.scalars(
            select(LegalAcceptanceRow.document_id)
            .where(LegalAcceptanceRow.user_id == user_id)
            .distinct()
        )
        return set(rows)

    async def add_acceptances(self, acceptances: Sequence[Acceptance]) -> None:
        if not acceptances:
            return
        self._changed.update(accepted_documents_key(a.user_id) for a in acceptances)
        await self._session.execute(
            insert(LegalAcceptanceRow).on_conflict_do_nothing(
                index_elements=["user_id", "document_id"]
            ),
            [
                {
                    "id": a.id,
                    "user_id": a.user_id,
                    "document_id": a.document_id,
                    "document_version": a.document_version,
                    "content_sha256": a.content_sha256,
                    "accepted_at": a.accepted_at,
                    "ip_address": a.ip_address,
                    "user_agent": a.user_agent,
                }
                for a in acceptances
            ],
        )

    async def publish(self, document: LegalDocument) -> None:
        self._changed.add(ACTIVE_DOCUMENTS_KEY)
        await self._session.execute(
            update(LegalDocumentRow)
            .where(
                LegalDocumentRow.document_type == document.document_type.value,
                LegalDocumentRow.status == DocumentStatus.ACTIVE.value,
            )
            .values(status=DocumentStatus.ARCHIVED.value)
            .execution_options(synchronize_session=False)
        )
        self._session.add(
            LegalDocumentRow(
                id=document.id,
                document_type=document.document_type.value,
                version=document.version,
                title=document.title,
                content=document.content,
                content_sha256=document.content_sha256,
                status=DocumentStatus.ACTIVE.value,
                effective_date=document.effective_date,
            )
        )
        try:
            await self._session.flush()
        except IntegrityError:
            raise Conflict(
                f"{document.document_type.value} version {document.version} "
                "already exists"
            ) from None

    async def count_documents(self) -> int:
        return int(
            await self._session.scalar(select(func.count(LegalDocumentRow.id))) or 0
        )
