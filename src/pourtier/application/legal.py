"""Legal documents: publish versions, record acceptance, gate business features."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from pourtier.application.cached import ReadsThroughCache
from pourtier.domain.audit import Actor, AuditAction, AuditEntry
from pourtier.domain.auth import ClientInfo
from pourtier.domain.errors import ComplianceRequired, Conflict, InvalidInput
from pourtier.domain.events import Event, EventType
from pourtier.domain.legal import (
    Acceptance,
    DocumentType,
    LegalDocument,
    pending_documents,
)
from pourtier.domain.notifications import Notification, NotificationKind

INITIAL_VERSION = "1.0"
INITIAL_TITLES = {
    DocumentType.TERMS_OF_SERVICE: "Terms of Service",
    DocumentType.PRIVACY_POLICY: "Privacy Policy",
    DocumentType.RISK_DISCLOSURE: "Risk Disclosure",
}


def document_summary(document: LegalDocument) -> dict[str, str]:
    """How a pending document is named in error bodies."""
    return {
        "id": str(document.id),
        "document_type": document.document_type.value,
        "version": document.version,
        "title": document.title,
    }


def check_accepts_all_active(
    active: Sequence[LegalDocument], accepted_ids: Sequence[uuid.UUID]
) -> list[LegalDocument]:
    """Raise unless `accepted_ids` are exactly active documents and cover all."""
    active_ids = {doc.id for doc in active}
    unknown = [str(i) for i in accepted_ids if i not in active_ids]
    if unknown:
        raise InvalidInput(
            "not active legal documents: " + ", ".join(sorted(set(unknown)))
        )
    missing = pending_documents(active, accepted_ids)
    if missing:
        names = ", ".join(
            f"{d.document_type.value} v{d.version} ({d.id})" for d in missing
        )
        raise InvalidInput(f"every active legal document must be accepted: {names}")
    return list(active)


@dataclass(frozen=True)
class Compliance:
    pending_documents: list[LegalDocument]

    @property
    def is_compliant(self) -> bool:
        return not self.pending_documents


@dataclass
class LegalUseCases(ReadsThroughCache):
    async def active_documents(self) -> Sequence[LegalDocument]:
        return await self._reads.active_documents()

    async def compliance(self, user_id: uuid.UUID) -> Compliance:
        async with self._reads as reads:
            active = await reads.active_documents()
            accepted = await reads.accepted_document_ids(user_id)
        return Compliance(pending_documents(active, accepted))

    async def require_compliance(self, user_id: uuid.UUID) -> None:
        """The gate in front of every business feature."""
        compliance = await self.compliance(user_id)
        if not compliance.is_compliant:
            raise ComplianceRequired(
                [document_summary(d) for d in compliance.pending_documents]
            )

    async def accept(
        self, user_id: uuid.UUID, document_ids: Sequence[uuid.UUID], client: ClientInfo
    ) -> Compliance:
        if not document_ids:
            raise InvalidInput("document_ids must name at least one document")
        now = self.clock()
        async with self.uow() as uow:
            active = {doc.id: doc for doc in await uow.legal.active_documents()}
            unknown = [str(i) for i in document_ids if i not in active]
            if unknown:
                raise InvalidInput(
                    "not active legal documents: " + ", ".join(sorted(set(unknown)))
                )
            already = await uow.legal.accepted_document_ids(user_id)
            new = [active[i] for i in dict.fromkeys(document_ids) if i not in already]
            await uow.legal.add_acceptances(
                [
                    Acceptance.of(
                        user_id, doc, now, client.ip_address, client.user_agent
                    )
                    for doc in new
                ]
            )
            if new:  # accepting again changes nothing, and tells nothing
                await uow.outbox.add(
                    Event.about_user(
                        EventType.LEGAL_ACCEPTED,
                        user_id,
                        now,
                        documents=[document_summary(doc) for doc in new],
                    )
                )
            await uow.commit()
            accepted = already | {doc.id for doc in new}
        return Compliance(pending_documents(list(active.values()), accepted))

    async def publish(
        self,
        document_type: DocumentType,
        version: str,
        title: str,
        content: str,
        effective_date: datetime | None = None,
        actor: Actor | None = None,
    ) -> LegalDocument:
        """Archive the active version of this type and activate the new one.

        An operator's publication (`actor`) is audited in the same
        transaction; the bundled first versions are not anyone's act.
        """
        if not version.strip() or not title.strip() or not content.strip():
            raise InvalidInput("version, title and content must not be blank")
        if len(version.strip()) > 32 or len(title.strip()) > 200:
            raise InvalidInput("version must be at most 32 characters, title 200")
        if any("\x00" in text for text in (version, title, content)):
            raise InvalidInput("version, title and content must not contain NUL")
        document = LegalDocument(
            document_type=document_type,
            version=version.strip(),
            title=title.strip(),
            content=content,
            effective_date=effective_date or self.clock(),
        )
        async with self.uow() as uow:
            previous = [
                doc
                for doc in await uow.legal.active_documents()
                if doc.document_type is document.document_type
            ]
            await uow.legal.publish(document)
            for old in previous:  # who accepted the last version must accept this
                await uow.notifications.add_for_acceptors(
                    old.id, _new_version_notice(document, self.clock())
                )
            if actor is not None:
                await uow.audit.append(
                    AuditEntry.of(
                        actor,
                        AuditAction.LEGAL_PUBLISH,
                        ("legal_document", document.id),
                        self.clock(),
                    ).changed(
                        None,
                        {
                            "document_type": document.document_type.value,
                            "version": document.version,
                            "title": document.title,
                            "content_sha256": document.content_sha256,
                        },
                    )
                )
            await uow.commit()
        return document

    async def seed_initial(self) -> list[LegalDocument]:
        """Publish the bundled first versions if no document exists yet."""
        async with self.uow() as uow:
            if await uow.legal.count_documents() > 0:
                return []
        seeded = []
        bundle = resources.files("pourtier") / "legal_seed"
        for document_type, title in INITIAL_TITLES.items():
            content = (bundle / f"{document_type.value}.md").read_text("utf-8")
            try:
                seeded.append(
                    await self.publish(document_type, INITIAL_VERSION, title, content)
                )
            except Conflict:
                continue
        return seeded


def _new_version_notice(document: LegalDocument, now: datetime) -> Notification:
    """The template each acceptor of the previous version gets a copy of."""
    return Notification.of(
        uuid.UUID(int=0),  # replaced by each acceptor's id
        NotificationKind.LEGAL_VERSION,
        now,
        f"New version of the {document.title}",
        f"Version {document.version} of the {document.title} is published; "
        "accept it to keep using subscriptions and the escrow.",
        document=document_summary(document),
    )
