"""The admin API: any user's records, ending sessions, publishing documents,
and the audit log each action appends to (with its actor, target, request id
and client address), which nothing can change afterwards."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.admin_helpers import audit_entries, create_admin
from tests.helpers import bearer, create_user, login
from tests.subscription_helpers import subscribe
from tests.support.escrow import create_funded_escrow

CLIENT_IP = "203.0.113.7"  # the `client` fixture's peer


async def admin_get(
    client: httpx.AsyncClient, admin: dict[str, Any], path: str, **params: Any
) -> httpx.Response:
    return await client.get(f"/api/admin{path}", params=params, headers=bearer(admin))


async def test_an_admin_reads_another_users_record_only_under_admin(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, owner = await create_funded_escrow(client, container, deposit="100")
    subscribed = await subscribe(client, owner, "basic")
    assert subscribed.status_code == 201, subscribed.text
    owner_id = owner["user"]["id"]
    admin = await create_admin(client, container)

    elsewhere = await client.get(f"/api/users/{owner_id}", headers=bearer(admin))
    assert elsewhere.status_code == 404

    response = await admin_get(client, admin, f"/users/{owner_id}")
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["user"]["id"] == owner_id
    assert record["user"]["wallet_address"] == owner["user"]["wallet_address"]
    assert record["user"]["role"] == "user"
    assert record["user"]["roles"] == []
    assert len(record["legal_acceptances"]) == 3
    assert {a["ip_address"] for a in record["legal_acceptances"]} == {CLIENT_IP}
    assert Decimal(record["escrow"]["balance"]) == Decimal("70.01")  # less Basic
    kinds = {t["type"] for t in record["escrow"]["recent_transactions"]}
    assert {"initialize", "deposit", "subscription_charge"} <= kinds
    assert [s["id"] for s in record["subscriptions"]] == [subscribed.json()["id"]]
    [session] = record["sessions"]
    assert session["ip_address"] == CLIENT_IP
    assert session["revoked_at"] is None
    assert set(session) == {
        "id",
        "created_at",
        "ip_address",
        "user_agent",
        "revoked_at",
        "revoked_reason",
    }

    unknown = await admin_get(client, admin, f"/users/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "user not found"}


async def test_users_are_found_by_wallet_prefix_id_or_email(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    await client.patch(
        "/api/users/me", json={"email": "Alice@Example.com"}, headers=bearer(tokens)
    )
    user_id = tokens["user"]["id"]

    for query in (
        wallet.address,
        wallet.address[:6],
        wallet.address[:6].lower(),
        user_id,
        "alice@example.COM",
    ):
        found = await admin_get(client, admin, "/users", query=query)
        assert found.status_code == 200, found.text
        assert [u["id"] for u in found.json()] == [user_id], query
    for query in ("alice@example", "%", "_", str(uuid.uuid4())):
        found = await admin_get(client, admin, "/users", query=query)
        assert found.json() == [], query

    everyone = (await admin_get(client, admin, "/users")).json()
    assert [u["id"] for u in everyone] == [user_id, admin["user"]["id"]]
    assert everyone[1]["roles"] == ["admin"]
    page = await admin_get(client, admin, "/users", limit=1, offset=1)
    assert [u["id"] for u in page.json()] == [admin["user"]["id"]]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"query": "a\x00"}):
        refused = await admin_get(client, admin, "/users", **bad)
        assert refused.status_code == 422, bad


async def test_ending_a_users_sessions_signs_them_out_and_is_audited(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    first = await create_user(client, wallet)
    second = await login(client, wallet)
    admin = await create_admin(client, container)
    user_id = first["user"]["id"]

    response = await client.post(
        f"/api/admin/users/{user_id}/sessions/revoke",
        headers={**bearer(admin), "X-Request-ID": "revoke-123"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == user_id
    assert len(body["session_ids"]) == 2

    for tokens in (first, second):
        me = await client.get("/api/users/me", headers=bearer(tokens))
        assert me.status_code == 401
        refreshed = await client.post(
            "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 401
    record = (await admin_get(client, admin, f"/users/{user_id}")).json()
    assert {s["revoked_reason"] for s in record["sessions"]} == {"admin"}

    [entry] = await audit_entries(client, admin, action="sessions.revoke")
    assert entry["actor_type"] == "user"
    assert entry["actor_id"] == admin["user"]["id"]
    assert entry["actor_wallet"] == admin["user"]["wallet_address"]
    assert entry["target_type"] == "user"
    assert entry["target_id"] == user_id
    assert entry["request_id"] == "revoke-123"
    assert entry["ip_address"] == CLIENT_IP
    assert sorted(entry["after"]["sessions_ended"]) == sorted(body["session_ids"])

    unknown = await client.post(
        f"/api/admin/users/{uuid.uuid4()}/sessions/revoke", headers=bearer(admin)
    )
    assert unknown.status_code == 404
    assert len(await audit_entries(client, admin, action="sessions.revoke")) == 1


async def test_publishing_a_document_is_audited_with_the_publication(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    body = {
        "document_type": "privacy_policy",
        "version": "2.0",
        "title": "Privacy Policy v2",
        "content": "We keep less.",
    }
    response = await client.post(
        "/api/admin/legal/documents", json=body, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    published = response.json()
    assert published["status"] == "active"
    active = (await client.get("/api/legal/documents")).json()
    assert published["id"] in {d["id"] for d in active}
    me = (await client.get("/api/users/me", headers=bearer(admin))).json()
    assert [d["id"] for d in me["pending_documents"]] == [published["id"]]

    [entry] = await audit_entries(client, admin, action="legal.publish")
    assert entry["target_type"] == "legal_document"
    assert entry["target_id"] == published["id"]
    assert entry["after"]["version"] == "2.0"
    assert entry["after"]["content_sha256"] == published["content_sha256"]

    # Refused: nothing published, so nothing audited (one transaction).
    again = await client.post(
        "/api/admin/legal/documents", json=body, headers=bearer(admin)
    )
    assert again.status_code == 409
    assert len(await audit_entries(client, admin, action="legal.publish")) == 1
    blank = await client.post(
        "/api/admin/legal/documents",
        json={**body, "version": "3.0", "content": "  "},
        headers=bearer(admin),
    )
    assert blank.status_code == 400


async def test_the_audit_log_filters_by_actor_and_action_newest_first(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin_wallet = Wallet()
    admin = await create_admin(client, container, admin_wallet)  # by the "cli"
    target = await create_user(client)
    for _ in range(2):
        response = await client.post(
            f"/api/admin/users/{target['user']['id']}/sessions/revoke",
            headers=bearer(admin),
        )
        assert response.status_code == 200

    everything = await audit_entries(client, admin)
    assert [e["action"] for e in everything] == [
        "sessions.revoke",
        "sessions.revoke",
        "role.grant",
    ]
    times = [e["occurred_at"] for e in everything]
    assert times == sorted(times, reverse=True)
    [grant] = await audit_entries(client, admin, actor="cli")
    assert grant["actor_id"] is None
    assert grant["target_id"] == admin["user"]["id"]
    assert grant["before"] == {"role": "user"}
    assert grant["after"] == {"role": "admin"}
    by_id = await audit_entries(client, admin, actor=admin["user"]["id"])
    by_wallet = await audit_entries(client, admin, actor=admin_wallet.address)
    assert by_id == by_wallet == everything[:2]
    assert await audit_entries(client, admin, actor=str(uuid.uuid4())) == []
    assert await audit_entries(client, admin, action="role.revoke") == []
    assert await audit_entries(client, admin, limit="1", offset="2") == [grant]
    refused = await admin_get(client, admin, "/audit", limit=0)
    assert refused.status_code == 422


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'edited'", "DELETE FROM audit_log"]
)
async def test_the_audit_log_refuses_update_and_delete(
    client: httpx.AsyncClient, container: Container, statement: str
) -> None:
    admin = await create_admin(client, container)
    before = await audit_entries(client, admin)
    assert len(before) == 1
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        async with container.engine.begin() as connection:
            await connection.execute(text(statement))
    assert await audit_entries(client, admin) == before


async def test_the_audit_log_can_still_be_truncated(
    client: httpx.AsyncClient, container: Container
) -> None:
    """The tests empty every table between tests; an operator may too."""
    admin = await create_admin(client, container)
    async with container.engine.begin() as connection:
        await connection.execute(text("TRUNCATE audit_log"))
    assert await audit_entries(client, admin) == []
