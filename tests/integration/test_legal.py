"""Legal documents, acceptance evidence and the compliance gate, over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.errors import Conflict, InvalidInput
from pourtier.domain.legal import DocumentType, LegalDocument, content_hash
from pourtier.presentation.app import create_app
from pourtier.presentation.deps import CompliantAuth, require_compliance
from tests.conftest import AUTH_URI
from tests.helpers import (
    active_document_ids,
    bearer,
    create_signed_message,
    create_user,
)

if TYPE_CHECKING:
    from tests.helpers import TestClock

CLIENT_IP = "203.0.113.7"
DOCUMENT_FIELDS = {
    "id",
    "document_type",
    "version",
    "title",
    "content",
    "content_sha256",
    "status",
    "effective_date",
}
PENDING_FIELDS = {"id", "document_type", "version", "title"}


def build_gated_app(container: Container) -> FastAPI:
    """The real app plus business routes guarded by the reusable gate."""
    app = create_app(container, manage_lifespan=False)

    @app.get("/api/test/business")
    async def business(auth: CompliantAuth) -> dict[str, str]:
        return {"user_id": str(auth.user.id)}

    guarded = APIRouter(prefix="/api/test", dependencies=[Depends(require_compliance)])

    @guarded.post("/orders")
    async def place_order() -> dict[str, bool]:
        return {"placed": True}

    app.include_router(guarded)
    return app


@pytest.fixture
async def gated(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(
        app=build_gated_app(container), client=(CLIENT_IP, 5555)
    )
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as c:
        yield c


async def publish(
    container: Container,
    document_type: DocumentType = DocumentType.TERMS_OF_SERVICE,
    version: str = "2.0",
    content: str | None = None,
) -> LegalDocument:
    return await container.legal.publish(
        document_type,
        version,
        f"{document_type.value} {version}",
        content or f"{document_type.value} version {version}: new terms.",
    )


async def acceptance_rows(
    container: Container, user_id: str | None = None
) -> list[dict[str, Any]]:
    query = "SELECT * FROM legal_acceptances"
    params: dict[str, Any] = {}
    if user_id is not None:
        query += " WHERE user_id = :u"
        params["u"] = uuid.UUID(user_id)
    async with container.engine.connect() as connection:
        rows = (await connection.execute(text(query), params)).all()
    return [dict(r._mapping) for r in rows]


async def document_rows(container: Container) -> list[dict[str, Any]]:
    async with container.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT * FROM legal_documents ORDER BY document_type, version")
            )
        ).all()
    return [dict(r._mapping) for r in rows]


async def accept(
    client: httpx.AsyncClient,
    tokens: dict[str, Any],
    ids: list[str],
    **headers: str,
) -> httpx.Response:
    return await client.post(
        "/api/legal/accept",
        json={"document_ids": ids},
        headers={**bearer(tokens), **headers},
    )


# --- documents ------------------------------------------------------------


async def test_documents_are_public_and_list_one_active_per_type(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/legal/documents")
    assert response.status_code == 200, response.text
    docs = response.json()
    assert sorted(d["document_type"] for d in docs) == sorted(
        t.value for t in DocumentType
    )
    for doc in docs:
        assert set(doc) == DOCUMENT_FIELDS
        assert doc["status"] == "active"
        assert doc["version"] == "1.0"
        assert doc["content"].strip()
        assert doc["content_sha256"] == content_hash(doc["content"])
        assert datetime.fromisoformat(doc["effective_date"]).tzinfo is not None
        uuid.UUID(doc["id"])


async def test_publish_archives_the_previous_version(
    client: httpx.AsyncClient, container: Container
) -> None:
    old = {
        d["document_type"]: d for d in (await client.get("/api/legal/documents")).json()
    }
    new = await publish(container, DocumentType.PRIVACY_POLICY, "1.1", "Privacy v1.1")

    docs = (await client.get("/api/legal/documents")).json()
    assert len(docs) == 3
    by_type = {d["document_type"]: d for d in docs}
    assert by_type["privacy_policy"]["id"] == str(new.id)
    assert by_type["privacy_policy"]["version"] == "1.1"
    assert by_type["privacy_policy"]["content"] == "Privacy v1.1"
    assert by_type["privacy_policy"]["content_sha256"] == content_hash("Privacy v1.1")
    assert by_type["terms_of_service"] == old["terms_of_service"]
    assert by_type["risk_disclosure"] == old["risk_disclosure"]

    rows = {str(r["id"]): r for r in await document_rows(container)}
    assert len(rows) == 4
    assert rows[old["privacy_policy"]["id"]]["status"] == "archived"
    assert rows[str(new.id)]["status"] == "active"
    archived = rows[old["privacy_policy"]["id"]]
    assert archived["content"] == old["privacy_policy"]["content"]


async def test_publish_same_type_and_version_twice_conflicts_and_keeps_active(
    client: httpx.AsyncClient, container: Container
) -> None:
    first = await publish(container, version="2.0")
    with pytest.raises(Conflict, match=r"terms_of_service version 2\.0"):
        await publish(container, version="2.0", content="different text")
    with pytest.raises(Conflict):
        await publish(container, version="1.0")
    docs = {
        d["document_type"]: d for d in (await client.get("/api/legal/documents")).json()
    }
    assert docs["terms_of_service"]["id"] == str(first.id)
    assert len(await document_rows(container)) == 4


@pytest.mark.parametrize(
    ("version", "title", "content"),
    [
        ("", "T", "text"),
        ("  ", "T", "text"),
        ("2.0", " ", "text"),
        ("2.0", "T", "\n\n"),
        ("v" * 33, "T", "text"),
        ("2.0", "T" * 201, "text"),
        ("2.0", "T", "nul\x00inside"),
        ("2\x00", "T", "text"),
    ],
)
async def test_publish_refuses_invalid_fields_and_changes_nothing(
    container: Container, version: str, title: str, content: str
) -> None:
    before = await document_rows(container)
    with pytest.raises(InvalidInput):
        await container.legal.publish(
            DocumentType.TERMS_OF_SERVICE, version, title, content
        )
    assert await document_rows(container) == before


async def test_publish_accepts_the_longest_version_and_title(
    client: httpx.AsyncClient, container: Container
) -> None:
    doc = await container.legal.publish(
        DocumentType.TERMS_OF_SERVICE, " " + "v" * 32 + " ", "T" * 200, "text"
    )
    assert doc.version == "v" * 32
    docs = {
        d["document_type"]: d for d in (await client.get("/api/legal/documents")).json()
    }
    assert docs["terms_of_service"]["version"] == "v" * 32
    assert docs["terms_of_service"]["title"] == "T" * 200


async def test_seed_initial_is_idempotent(container: Container) -> None:
    before = await document_rows(container)
    assert await container.legal.seed_initial() == []
    assert await document_rows(container) == before


async def test_concurrent_publishes_leave_one_active_version(
    client: httpx.AsyncClient, container: Container
) -> None:
    results = await asyncio.gather(
        *(publish(container, version=f"3.{i}") for i in range(4)),
        return_exceptions=True,
    )
    published = [r for r in results if isinstance(r, LegalDocument)]
    assert published
    assert all(isinstance(r, LegalDocument | Conflict) for r in results), results
    rows = [
        r
        for r in await document_rows(container)
        if r["document_type"] == "terms_of_service"
    ]
    assert [r["status"] for r in rows].count("active") == 1
    docs = (await client.get("/api/legal/documents")).json()
    assert len(docs) == 3


# --- acceptance -----------------------------------------------------------


async def test_registration_records_acceptance_evidence(
    client: httpx.AsyncClient, container: Container
) -> None:
    docs = (await client.get("/api/legal/documents")).json()
    tokens = await create_user(client)
    rows = await acceptance_rows(container, tokens["user"]["id"])
    assert {str(r["document_id"]) for r in rows} == {d["id"] for d in docs}
    by_doc = {str(r["document_id"]): r for r in rows}
    for doc in docs:
        row = by_doc[doc["id"]]
        assert row["document_version"] == doc["version"]
        assert row["content_sha256"] == doc["content_sha256"]
        assert row["ip_address"] == CLIENT_IP
        assert row["user_agent"].startswith("python-httpx/")


async def test_accept_records_user_document_version_hash_ip_and_agent(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    tokens = await create_user(client)
    at_registration = await acceptance_rows(container, tokens["user"]["id"])
    new = await publish(container, DocumentType.RISK_DISCLOSURE, "2.0", "Risky v2")
    clock.offset = timedelta(minutes=20)
    response = await accept(
        client, tokens, [str(new.id)], **{"User-Agent": "TradeApp/3.1 (iPhone)"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"is_compliant": True, "pending_documents": []}

    rows = [
        r
        for r in await acceptance_rows(container, tokens["user"]["id"])
        if r["document_id"] == new.id
    ]
    assert len(rows) == 1
    row = rows[0]
    assert str(row["user_id"]) == tokens["user"]["id"]
    assert row["document_version"] == "2.0"
    assert row["content_sha256"] == content_hash("Risky v2")
    assert row["ip_address"] == CLIENT_IP
    assert row["user_agent"] == "TradeApp/3.1 (iPhone)"
    assert abs(row["accepted_at"] - clock()) < timedelta(minutes=1)
    # Append-only: the earlier evidence, including for the archived v1, is intact.
    rows_now = await acceptance_rows(container, tokens["user"]["id"])
    assert [r for r in rows_now if r["document_id"] != new.id] == at_registration


async def test_overlong_user_agent_is_truncated_not_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    new = await publish(container)
    response = await accept(client, tokens, [str(new.id)], **{"User-Agent": "U" * 2000})
    assert response.status_code == 200, response.text
    row = next(
        r for r in await acceptance_rows(container) if r["document_id"] == new.id
    )
    assert row["user_agent"] == "U" * 512


async def test_accepting_twice_does_not_duplicate_rows(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    new = await publish(container)
    ids = [str(new.id), str(new.id)]
    for _ in range(3):
        response = await accept(client, tokens, ids)
        assert response.status_code == 200, response.text
        assert response.json()["is_compliant"] is True
    all_active = await active_document_ids(client)
    response = await accept(client, tokens, all_active)
    assert response.status_code == 200, response.text
    rows = await acceptance_rows(container, tokens["user"]["id"])
    assert len(rows) == 4
    assert [r["document_id"] for r in rows].count(new.id) == 1


async def test_acceptance_is_per_user(
    client: httpx.AsyncClient, container: Container
) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    new = await publish(container)
    await accept(client, alice, [str(new.id)])
    alice_c = (await client.get("/api/legal/compliance", headers=bearer(alice))).json()
    bob_c = (await client.get("/api/legal/compliance", headers=bearer(bob))).json()
    assert alice_c["is_compliant"] is True
    assert bob_c["is_compliant"] is False
    assert [d["id"] for d in bob_c["pending_documents"]] == [str(new.id)]


async def test_unknown_or_archived_ids_are_refused_and_nothing_recorded(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    old_ids = await active_document_ids(client)
    new = await publish(container)
    before = await acceptance_rows(container)
    stranger = str(uuid.uuid4())
    archived = next(
        str(r["id"])
        for r in await document_rows(container)
        if r["status"] == "archived"
    )
    assert archived in old_ids
    for ids in (
        [stranger],
        [archived],
        [str(new.id), stranger],
        [str(new.id), archived],
    ):
        response = await accept(client, tokens, ids)
        assert response.status_code == 400, (ids, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str)
        assert (stranger in detail) or (archived in detail)
    assert await acceptance_rows(container) == before
    compliance = await client.get("/api/legal/compliance", headers=bearer(tokens))
    assert compliance.json()["is_compliant"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"document_ids": []},
        {"document_ids": ["not-a-uuid"]},
        {"document_ids": "x"},
        {},
        {"document_ids": [str(uuid.uuid4())] * 17},
        {"document_ids": [], "extra": 1},
    ],
)
async def test_malformed_accept_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    tokens = await create_user(client)
    response = await client.post("/api/legal/accept", json=body, headers=bearer(tokens))
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_accept_and_compliance_need_authentication(
    client: httpx.AsyncClient,
) -> None:
    ids = await active_document_ids(client)
    response = await client.post("/api/legal/accept", json={"document_ids": ids})
    assert response.status_code == 401
    assert (await client.get("/api/legal/compliance")).status_code == 401


async def test_compliance_lists_pending_until_accepted(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    compliance = await client.get("/api/legal/compliance", headers=bearer(tokens))
    assert compliance.json() == {"is_compliant": True, "pending_documents": []}

    tos = await publish(container, DocumentType.TERMS_OF_SERVICE, "2.0")
    risk = await publish(container, DocumentType.RISK_DISCLOSURE, "2.0")
    body = (await client.get("/api/legal/compliance", headers=bearer(tokens))).json()
    assert body["is_compliant"] is False
    assert {d["id"] for d in body["pending_documents"]} == {str(tos.id), str(risk.id)}
    for doc in body["pending_documents"]:
        assert set(doc) == PENDING_FIELDS

    partial = await accept(client, tokens, [str(tos.id)])
    assert partial.json()["is_compliant"] is False
    assert [d["id"] for d in partial.json()["pending_documents"]] == [str(risk.id)]

    done = await accept(client, tokens, [str(risk.id)])
    assert done.json() == {"is_compliant": True, "pending_documents": []}


async def test_registration_needs_the_current_versions(
    client: httpx.AsyncClient, container: Container
) -> None:
    old_ids = await active_document_ids(client)
    await publish(container)
    wallet = Wallet()
    body: dict[str, Any] = await create_signed_message(client, wallet)
    body["accepted_document_ids"] = old_ids
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 400, response.text
    tokens = await create_user(client, wallet)
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.json()["pending_documents"] == []


# --- the compliance gate --------------------------------------------------


async def test_gate_lets_a_compliant_user_through(gated: httpx.AsyncClient) -> None:
    tokens = await create_user(gated)
    response = await gated.get("/api/test/business", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": tokens["user"]["id"]}
    response = await gated.post("/api/test/orders", headers=bearer(tokens))
    assert response.status_code == 200, response.text


async def test_gate_needs_authentication_first(gated: httpx.AsyncClient) -> None:
    for response in (
        await gated.get("/api/test/business"),
        await gated.post("/api/test/orders", headers={"Authorization": "Bearer x"}),
    ):
        assert response.status_code == 401, response.text
        assert "pending_documents" not in response.json()


async def test_new_version_blocks_business_until_accepted(
    gated: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    tokens = await create_user(gated, wallet)
    headers = bearer(tokens)
    new = await publish(container, DocumentType.TERMS_OF_SERVICE, "2.0")
    expected_pending = [
        {
            "id": str(new.id),
            "document_type": "terms_of_service",
            "version": "2.0",
            "title": "terms_of_service 2.0",
        }
    ]

    # Every business endpoint answers 403 and names what to accept.
    for response in (
        await gated.get("/api/test/business", headers=headers),
        await gated.post("/api/test/orders", headers=headers),
    ):
        assert response.status_code == 403, response.text
        body = response.json()
        assert set(body) == {"detail", "pending_documents"}
        assert isinstance(body["detail"], str)
        assert body["detail"]
        assert body["pending_documents"] == expected_pending

    # Auth, profile and legal endpoints still work.
    me = await gated.get("/api/users/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["pending_documents"] == expected_pending
    patched = await gated.patch(
        "/api/users/me", json={"display_name": "Still here"}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    mine = await gated.get(f"/api/users/{tokens['user']['id']}", headers=headers)
    assert mine.status_code == 200
    compliance = await gated.get("/api/legal/compliance", headers=headers)
    assert compliance.status_code == 200
    assert compliance.json()["pending_documents"] == expected_pending
    assert (await gated.get("/api/legal/documents")).status_code == 200
    login = await gated.post(
        "/api/auth/login", json=await create_signed_message(gated, wallet)
    )
    assert login.status_code == 200, login.text
    refreshed = await gated.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    fresh = bearer(refreshed.json())
    blocked = await gated.get("/api/test/business", headers=fresh)
    assert blocked.status_code == 403

    # Accepting opens the gate at once, for every token of the user.
    accepted = await accept(gated, refreshed.json(), [str(new.id)])
    assert accepted.status_code == 200, accepted.text
    for auth in (fresh, bearer(login.json())):
        response = await gated.get("/api/test/business", headers=auth)
        assert response.status_code == 200, response.text
        assert response.json() == {"user_id": tokens["user"]["id"]}
    assert (await gated.post("/api/test/orders", headers=fresh)).status_code == 200


async def test_gate_names_every_pending_document(
    gated: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(gated)
    published = [
        await publish(container, t, "9.0")
        for t in (DocumentType.PRIVACY_POLICY, DocumentType.RISK_DISCLOSURE)
    ]
    response = await gated.get("/api/test/business", headers=bearer(tokens))
    assert response.status_code == 403
    assert {d["id"] for d in response.json()["pending_documents"]} == {
        str(d.id) for d in published
    }
    await accept(gated, tokens, [str(published[0].id)])
    response = await gated.get("/api/test/business", headers=bearer(tokens))
    assert response.status_code == 403
    assert [d["id"] for d in response.json()["pending_documents"]] == [
        str(published[1].id)
    ]


async def test_accepting_an_old_version_does_not_open_the_gate(
    gated: httpx.AsyncClient, container: Container
) -> None:
    """A user who registered before v2 and re-sends v1 ids stays blocked."""
    tokens = await create_user(gated)
    old_ids = await active_document_ids(gated)
    await publish(container)
    response = await accept(gated, tokens, old_ids)
    assert response.status_code == 400
    assert (
        await gated.get("/api/test/business", headers=bearer(tokens))
    ).status_code == 403


async def test_concurrent_acceptances_record_each_document_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    new = await publish(container, DocumentType.TERMS_OF_SERVICE, "9.0", "Terms v9")
    responses = await asyncio.gather(
        *(accept(client, tokens, [str(new.id)]) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {200}
    rows = await acceptance_rows(container, tokens["user"]["id"])
    assert [r["document_id"] for r in rows].count(new.id) == 1
