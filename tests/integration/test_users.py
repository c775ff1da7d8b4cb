"""Profiles over HTTP: read and edit your own record, never anyone else's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.helpers import bearer, create_user

if TYPE_CHECKING:
    from tests.helpers import TestClock

USER_FIELDS = {
    "id",
    "wallet_address",
    "display_name",
    "email",
    "kyc_status",
    "created_at",
    "updated_at",
    "last_login_at",
}


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch_me(
    client: httpx.AsyncClient, tokens: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.patch("/api/users/me", json=body, headers=bearer(tokens))


async def stored_user(container: Container, user_id: str) -> dict[str, Any]:
    async with container.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT * FROM users WHERE id = :id"), {"id": uuid.UUID(user_id)}
            )
        ).one()
    return dict(row._mapping)


async def test_me_returns_the_full_record_and_no_pending_documents(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    body = await me(client, tokens)
    assert set(body) == USER_FIELDS | {"pending_documents", "roles"}
    assert body["roles"] == []
    assert body["id"] == tokens["user"]["id"]
    assert uuid.UUID(body["id"]).version == 4
    assert body["wallet_address"] == wallet.address
    assert body["display_name"] is None
    assert body["email"] is None
    assert body["kyc_status"] == "not_started"
    assert body["pending_documents"] == []
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None
    assert datetime.fromisoformat(body["updated_at"]) == created
    assert body["last_login_at"] is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}],
)
async def test_profile_endpoints_need_a_valid_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    tokens = await create_user(client)
    user_id = tokens["user"]["id"]
    for method, url in [
        ("GET", "/api/users/me"),
        ("PATCH", "/api/users/me"),
        ("GET", f"/api/users/{user_id}"),
    ]:
        response = await client.request(method, url, json={}, headers=headers)
        assert response.status_code == 401, (method, url, response.text)
        assert isinstance(response.json()["detail"], str)


async def test_patch_sets_fields_and_moves_updated_at(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    tokens = await create_user(client)
    before = await me(client, tokens)
    clock.offset = timedelta(minutes=3)
    response = await patch_me(
        client, tokens, {"display_name": "  Alice  ", "email": "alice@example.com"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["display_name"] == "Alice"
    assert body["email"] == "alice@example.com"
    assert body["pending_documents"] == []
    updated = datetime.fromisoformat(body["updated_at"])
    assert updated - datetime.fromisoformat(before["updated_at"]) >= timedelta(
        minutes=3
    )
    assert body["created_at"] == before["created_at"]
    assert body["wallet_address"] == before["wallet_address"]

    assert await me(client, tokens) == body
    row = await stored_user(container, body["id"])
    assert row["display_name"] == "Alice"
    assert row["email"] == "alice@example.com"
    assert row["updated_at"] == updated


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    await patch_me(client, tokens, {"display_name": "Alice", "email": "a@example.com"})

    response = await patch_me(client, tokens, {"email": "b@example.com"})
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Alice"
    assert response.json()["email"] == "b@example.com"

    response = await patch_me(client, tokens, {"display_name": "Bob"})
    assert response.json()["display_name"] == "Bob"
    assert response.json()["email"] == "b@example.com"


async def test_patch_null_clears_a_field(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    await patch_me(client, tokens, {"display_name": "Alice", "email": "a@example.com"})
    response = await patch_me(client, tokens, {"email": None})
    assert response.status_code == 200, response.text
    assert response.json()["email"] is None
    assert response.json()["display_name"] == "Alice"
    response = await patch_me(client, tokens, {"display_name": None})
    assert response.json()["display_name"] is None


async def test_empty_patch_changes_nothing_but_updated_at(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    tokens = await create_user(client)
    await patch_me(client, tokens, {"display_name": "Alice"})
    before = await me(client, tokens)
    clock.offset = timedelta(seconds=5)
    response = await patch_me(client, tokens, {})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["updated_at"] > before["updated_at"]
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


@pytest.mark.parametrize(
    ("body", "statuses"),
    [
        ({"email": "not-an-email"}, {400}),
        ({"email": "a@b"}, {400}),
        ({"email": "two@@example.com"}, {400}),
        ({"email": ""}, {400}),
        ({"email": "x" * 300 + "@example.com"}, {400, 422}),
        ({"display_name": ""}, {400}),
        ({"display_name": "   "}, {400}),
        ({"display_name": "a" * 65}, {400}),
        ({"display_name": "a" * 1000}, {400, 422}),
        ({"display_name": 42}, {422}),
        ({"email": ["a@example.com"]}, {422}),
        ({"nickname": "x"}, {422}),
        ({"wallet_address": str(Wallet().address)}, {422}),
        ({"kyc_status": "verified"}, {422}),
        ({"id": str(uuid.uuid4())}, {422}),
    ],
)
async def test_invalid_patch_is_refused_and_nothing_changes(
    client: httpx.AsyncClient,
    container: Container,
    body: dict[str, Any],
    statuses: set[int],
) -> None:
    tokens = await create_user(client)
    await patch_me(client, tokens, {"display_name": "Alice", "email": "a@example.com"})
    before = await me(client, tokens)
    response = await patch_me(client, tokens, {"display_name": "Eve", **body})
    assert response.status_code in statuses, response.text
    assert "detail" in response.json()
    assert isinstance(response.json()["detail"], str | list)
    assert await me(client, tokens) == before
    row = await stored_user(container, before["id"])
    assert row["kyc_status"] == "not_started"
    assert row["wallet_address"] == before["wallet_address"]


async def test_patch_that_is_not_json_object_is_422(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    for content in (b"not json", b"[1, 2]", b'"x"'):
        response = await client.patch(
            "/api/users/me",
            content=content,
            headers={**bearer(tokens), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text


async def test_validation_errors_do_not_echo_the_input(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    secret = "s3cr3t-value-" + "z" * 1000
    response = await patch_me(client, tokens, {"display_name": secret})
    assert response.status_code in {400, 422}
    assert secret not in response.text


@pytest.mark.parametrize(
    "name",
    [
        "Robert'); DROP TABLE users;--",
        "' OR '1'='1",
        '"; DELETE FROM legal_acceptances; --',
        "<script>alert(1)</script>",
        "tab\tbell\x07esc\x1b[31mred",
        "line\nbreak",
        "zero\u200bwidth\u202eRTL",
        "emoji 🚀 ünïcödé 名前",
        "%s %(x)s {0} $1 \\x00",
    ],
)
async def test_hostile_strings_are_stored_verbatim_and_harmless(
    client: httpx.AsyncClient, container: Container, name: str
) -> None:
    tokens = await create_user(client)
    other = await create_user(client)
    email = "o'brien+x@example.com"
    response = await patch_me(client, tokens, {"display_name": name, "email": email})
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == name
    assert response.json()["email"] == email
    assert (await me(client, tokens))["display_name"] == name

    row = await stored_user(container, tokens["user"]["id"])
    assert row["display_name"] == name
    assert row["email"] == email
    async with container.engine.connect() as connection:
        users = await connection.scalar(text("SELECT count(*) FROM users"))
        acceptances = await connection.scalar(
            text("SELECT count(*) FROM legal_acceptances")
        )
    assert users == 2
    assert acceptances == 6
    assert (await me(client, other))["display_name"] is None


@pytest.mark.parametrize("bad", ["nul\x00byte", "\x00"])
async def test_nul_characters_are_refused_not_crashing(
    client: httpx.AsyncClient, bad: str
) -> None:
    """PostgreSQL text cannot hold NUL, so it must be a client error, not a 500."""
    tokens = await create_user(client)
    for body in ({"display_name": bad}, {"email": f"a{bad}@example.com"}):
        response = await patch_me(client, tokens, body)
        assert response.status_code in {400, 422}, response.text
    assert (await me(client, tokens))["display_name"] is None


async def test_lone_surrogates_are_refused_not_crashing(
    client: httpx.AsyncClient,
) -> None:
    """Valid JSON, but not encodable as UTF-8 text for the database."""
    tokens = await create_user(client)
    for content in (b'{"display_name": "a\\ud800b"}', b'{"email": "\\udfff@x.io"}'):
        response = await client.patch(
            "/api/users/me",
            content=content,
            headers={**bearer(tokens), "Content-Type": "application/json"},
        )
        assert response.status_code in {400, 422}, response.text
    assert (await me(client, tokens))["display_name"] is None


async def test_get_user_by_id_returns_own_record(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    await patch_me(client, tokens, {"display_name": "Alice"})
    profile = await me(client, tokens)
    response = await client.get(f"/api/users/{profile['id']}", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    assert set(response.json()) == USER_FIELDS
    assert response.json() == {
        k: v for k, v in profile.items() if k not in {"pending_documents", "roles"}
    }


async def test_other_users_id_answers_like_an_unknown_one(
    client: httpx.AsyncClient,
) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    other = await client.get(f"/api/users/{bob['user']['id']}", headers=bearer(alice))
    unknown = await client.get(f"/api/users/{uuid.uuid4()}", headers=bearer(alice))
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json()
    assert set(other.json()) == {"detail"}
    assert bob["user"]["wallet_address"] not in other.text
    assert other.headers.get("content-length") == unknown.headers.get("content-length")


@pytest.mark.parametrize(
    "user_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "%27--"]
)
async def test_non_uuid_user_id_is_422(client: httpx.AsyncClient, user_id: str) -> None:
    tokens = await create_user(client)
    response = await client.get(f"/api/users/{user_id}", headers=bearer(tokens))
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


async def test_patch_only_touches_the_callers_record(
    client: httpx.AsyncClient,
) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    await patch_me(client, alice, {"display_name": "Alice"})
    assert (await me(client, bob))["display_name"] is None
    assert (await me(client, alice))["display_name"] == "Alice"
