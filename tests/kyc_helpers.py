"""KYC test helpers: the manual flow over HTTP, operators' decisions, the
rows the service keeps, and an app client on a container of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI
from tests.helpers import bearer
from tests.support.db import fetch

LEGAL_NAME = "Zéphyrine Quillfeather-Osei"
"""Distinctive, so that finding it anywhere (a log, a row) is no accident."""
DATE_OF_BIRTH = "1984-07-19"
PERSON: dict[str, str] = {
    "legal_name": LEGAL_NAME,
    "date_of_birth": DATE_OF_BIRTH,
    "country": "FR",
}


def user_id(tokens: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(tokens["user"]["id"])


async def start(
    client: httpx.AsyncClient, tokens: dict[str, Any], body: Any = None
) -> httpx.Response:
    """POST /api/kyc/start; `body` None sends no body at all."""
    if body is None:
        return await client.post("/api/kyc/start", headers=bearer(tokens))
    return await client.post("/api/kyc/start", json=body, headers=bearer(tokens))


async def start_manual(
    client: httpx.AsyncClient, tokens: dict[str, Any], **changes: str
) -> dict[str, Any]:
    """Submit the personal details (PERSON with `changes`); must be accepted."""
    response = await start(client, tokens, PERSON | changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def kyc_of(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/kyc", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def decide(
    client: httpx.AsyncClient,
    admin: dict[str, Any],
    user: dict[str, Any],
    decision: str,
    rejection_type: str | None = None,
    reason: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"decision": decision}
    if rejection_type is not None:
        body["rejection_type"] = rejection_type
    if reason is not None:
        body["reason"] = reason
    return await client.post(
        f"/api/admin/kyc/{user_id(user)}/decision", json=body, headers=bearer(admin)
    )


async def approve(
    client: httpx.AsyncClient, admin: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    response = await decide(client, admin, user, "approve")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def kyc_events(container: Container, user: uuid.UUID) -> list[Any]:
    """The user's kyc_events rows, oldest recorded first."""
    return await fetch(
        container,
        "SELECT status, source, event_id, rejection_type, reason "
        "FROM kyc_events WHERE user_id = :u ORDER BY recorded_at",
        u=user,
    )


@asynccontextmanager
async def app_client(
    container: Container, ip: str = "203.0.113.9"
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client on `container`'s app (e.g. one built by `serve`)."""
    app = create_app(container, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=(ip, 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        yield client
