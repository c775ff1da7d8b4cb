"""Legal documents and acceptances on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from pourtier.domain.cache import ACTIVE_DOCUMENTS_KEY, accepted_documents_key
from pourtier.domain.legal import Acceptance, DocumentStatus, LegalDocument
from pourtier.infrastructure.persistence.mapping import (
    SqlRepository,
    to_columns,
    to_entity,
)
from pourtier.infrastructure.persistence.models.legal import (
    LegalAcceptanceRow,
    LegalDocumentRow,
)


class SqlLegalRepository(SqlRepository):
    async def active_documents(self) -> list[LegalDocument]:
        return await self._all(
            LegalDocument,
            select(LegalDocumentRow)
            .where(LegalDocumentRow.status == DocumentStatus.ACTIVE.value)
            .order_by(LegalDocumentRow.document_type),
        )

    async def get_document(self, document_id: uuid.UUID) -> LegalDocument | None:
        row = await self._session.get(LegalDocumentRow, document_id)
        return to_entity(LegalDocument, row) if row else None

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
            [to_columns(a) for a in acceptances],
        )

    async def acceptances_of(self, user_id: uuid.UUID) -> list[Acceptance]:
        return await self._all(
            Acceptance,
            select(LegalAcceptanceRow)
            .where(LegalAcceptanceRow.user_id == user_id)
            .order_by(LegalAcceptanceRow.accepted_at.desc(), LegalAcceptanceRow.id),
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
        active = replace(document, status=DocumentStatus.ACTIVE)
        await self._add_new(
            LegalDocumentRow(**to_columns(active)),
            f"{document.document_type.value} version {document.version} already exists",
        )

    async def count_documents(self) -> int:
        return int(
            await self._session.scalar(select(func.count(LegalDocumentRow.id))) or 0
        )
