"""Admins for tests: a signed-in user granted the role, and the audit log read."""

from __future__ import annotations

from typing import Any

import httpx

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from tests.helpers import bearer, create_user


async def create_admin(
    client: httpx.AsyncClient, container: Container, wallet: Wallet | None = None
) -> dict[str, Any]:
    """A new user, then granted the admin role as the CLI grants it."""
    wallet = wallet or Wallet()
    tokens = await create_user(client, wallet)
    await container.admin.grant(Actor.cli(), wallet.address)
    return tokens


async def audit_entries(
    client: httpx.AsyncClient, admin: dict[str, Any], **params: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/admin/audit", params=params, headers=bearer(admin)
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries
