"""Legal documents, acceptance records and the pending/compliance rules. Pure."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pourtier.application.legal import (
    Compliance,
    check_accepts_all_active,
    document_summary,
)
from pourtier.domain.errors import ComplianceRequired, InvalidInput, PermissionDenied
from pourtier.domain.legal import (
    Acceptance,
    DocumentStatus,
    DocumentType,
    LegalDocument,
    content_hash,
    pending_documents,
)

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)


def make_doc(
    document_type: DocumentType = DocumentType.TERMS_OF_SERVICE,
    version: str = "1.0",
    content: str = "You agree.",
) -> LegalDocument:
    return LegalDocument(
        document_type=document_type,
        version=version,
        title=f"{document_type.value} {version}",
        content=content,
        effective_date=NOW,
    )


def all_types() -> list[LegalDocument]:
    return [make_doc(t) for t in DocumentType]


def test_document_types_and_statuses_are_the_documented_ones() -> None:
    assert {t.value for t in DocumentType} == {
        "terms_of_service",
        "privacy_policy",
        "risk_disclosure",
    }
    assert {s.value for s in DocumentStatus} == {"active", "archived"}


def test_content_hash_is_sha256_hex_of_utf8() -> None:
    text = "Conditions générales — 利用規約"
    assert content_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert len(content_hash(text)) == 64


def test_new_document_is_active_with_hash_of_its_content() -> None:
    doc = make_doc(content="v1 text")
    assert doc.status is DocumentStatus.ACTIVE
    assert doc.content_sha256 == content_hash("v1 text")
    assert isinstance(doc.id, uuid.UUID)


def test_stored_hash_is_kept_not_recomputed() -> None:
    doc = LegalDocument(
        document_type=DocumentType.PRIVACY_POLICY,
        version="1.0",
        title="Privacy",
        content="text",
        effective_date=NOW,
        content_sha256="ab" * 32,
    )
    assert doc.content_sha256 == "ab" * 32


@given(st.text(), st.text())
def test_different_content_gives_different_hash(a: str, b: str) -> None:
    assert (content_hash(a) == content_hash(b)) == (a == b)


def test_acceptance_pins_version_hash_and_client() -> None:
    doc = make_doc(version="2.1", content="pinned")
    user_id = uuid.uuid4()
    acceptance = Acceptance.of(user_id, doc, NOW, "198.51.100.1", "agent/1.0")
    assert acceptance.user_id == user_id
    assert acceptance.document_id == doc.id
    assert acceptance.document_version == "2.1"
    assert acceptance.content_sha256 == content_hash("pinned")
    assert acceptance.accepted_at == NOW
    assert acceptance.ip_address == "198.51.100.1"
    assert acceptance.user_agent == "agent/1.0"


def test_acceptance_is_immutable() -> None:
    acceptance = Acceptance.of(uuid.uuid4(), make_doc(), NOW, None, None)
    with pytest.raises(AttributeError):
        acceptance.document_version = "9.9"  # type: ignore[misc]


def test_pending_documents_keeps_order_and_drops_accepted() -> None:
    docs = all_types()
    assert pending_documents(docs, []) == docs
    assert pending_documents(docs, [docs[1].id]) == [docs[0], docs[2]]
    assert pending_documents(docs, (d.id for d in docs)) == []


def test_accepting_an_archived_version_does_not_satisfy_the_new_one() -> None:
    old = make_doc(version="1.0")
    new = make_doc(version="2.0")
    assert pending_documents([new], [old.id]) == [new]


@given(st.sets(st.integers(min_value=0, max_value=2)))
def test_pending_is_exactly_the_unaccepted_active(accepted_idx: set[int]) -> None:
    docs = all_types()
    accepted = [docs[i].id for i in accepted_idx]
    pending = pending_documents(docs, accepted)
    assert {d.id for d in pending} == {d.id for d in docs} - set(accepted)
    assert Compliance(pending).is_compliant == (len(accepted_idx) == 3)


def test_check_accepts_all_active_passes_with_every_active_id() -> None:
    docs = all_types()
    assert check_accepts_all_active(docs, [d.id for d in reversed(docs)]) == docs


def test_check_accepts_all_active_refuses_unknown_ids() -> None:
    docs = all_types()
    stranger = uuid.uuid4()
    with pytest.raises(InvalidInput, match=str(stranger)):
        check_accepts_all_active(docs, [*(d.id for d in docs), stranger])


def test_check_accepts_all_active_refuses_missing_ones() -> None:
    docs = all_types()
    with pytest.raises(InvalidInput, match=r"risk_disclosure v1\.0"):
        check_accepts_all_active(docs, [docs[0].id, docs[1].id])


def test_compliance_required_is_a_permission_error_listing_documents() -> None:
    doc = make_doc(DocumentType.RISK_DISCLOSURE, "3.0")
    error = ComplianceRequired([document_summary(doc)])
    assert isinstance(error, PermissionDenied)
    assert error.extra() == {
        "pending_documents": [
            {
                "id": str(doc.id),
                "document_type": "risk_disclosure",
                "version": "3.0",
                "title": "risk_disclosure 3.0",
            }
        ]
    }
