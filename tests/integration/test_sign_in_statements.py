"""What a full sign-in (nonce, then signed login) costs the database, and that
the few statements it takes still do everything the login promises."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.auth import hash_token
from tests.helpers import bearer, create_signed_message, create_user

if TYPE_CHECKING:
    from tests.helpers import TestClock


def queries(container: Container) -> float:
    value = container.metrics.registry.get_sample_value("pourtier_db_queries_total")
    return value or 0.0


async def test_a_full_sign_in_takes_at_most_three_statements(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    await create_user(client, wallet)
    before = queries(container)
    body = await create_signed_message(client, wallet)
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    assert queries(container) - before <= 3


async def test_a_login_consumes_its_nonce_and_writes_session_token_and_last_login(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet = Wallet()
    registered = await create_user(client, wallet)
    clock.offset = timedelta(minutes=3)
    body = await create_signed_message(client, wallet)
    nonce = body["message"].split("Nonce: ")[1].split("\n")[0]
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    tokens = response.json()
    login_at = datetime.fromisoformat(tokens["user"]["last_login_at"])
    assert login_at > datetime.fromisoformat(registered["user"]["last_login_at"])
    async with container.engine.connect() as connection:
        consumed = await connection.scalar(
            text("SELECT consumed_at FROM auth_nonces WHERE value = :v"), {"v": nonce}
        )
        stored_login = await connection.scalar(
            text("SELECT last_login_at FROM users WHERE id = :u"),
            {"u": uuid.UUID(tokens["user"]["id"])},
        )
        session = (
            await connection.execute(
                text(
                    "SELECT s.user_id, s.created_at, s.ip_address, t.parent_id,"
                    " t.used_at, t.expires_at - t.issued_at AS lifetime"
                    " FROM refresh_tokens t JOIN auth_sessions s"
                    " ON s.id = t.session_id WHERE t.token_hash = :h"
                ),
                {"h": hash_token(tokens["refresh_token"])},
            )
        ).one()
    assert consumed is not None
    assert stored_login == login_at
    assert abs(session.created_at - login_at) < timedelta(seconds=5)
    assert session.user_id == uuid.UUID(registered["user"]["id"])
    assert session.ip_address == "203.0.113.7"
    assert session.parent_id is None
    assert session.used_at is None
    assert session.lifetime == timedelta(days=30)


async def test_the_profile_shows_the_new_login_at_once_though_it_was_cached(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    wallet = Wallet()
    registered = await create_user(client, wallet)
    first = (await client.get("/api/users/me", headers=bearer(registered))).json()
    assert first["last_login_at"] == registered["user"]["last_login_at"]
    clock.offset = timedelta(minutes=1)
    body = await create_signed_message(client, wallet)
    tokens = (await client.post("/api/auth/login", json=body)).json()
    for token in (registered, tokens):
        profile = (await client.get("/api/users/me", headers=bearer(token))).json()
        assert profile["last_login_at"] == tokens["user"]["last_login_at"]
        assert profile["last_login_at"] != first["last_login_at"]
