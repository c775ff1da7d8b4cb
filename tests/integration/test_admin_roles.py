"""Who is an admin: the stored role (`pourtier admin grant|revoke`) or a wallet
in ADMIN_WALLETS, read on every request, so a revoke bites at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.audit import Actor
from pourtier.domain.errors import NotFound
from pourtier.presentation.app import create_app
from tests.admin_helpers import audit_entries, create_admin
from tests.conftest import AUTH_URI, Serve
from tests.helpers import bearer, create_user
from tests.support.processes import process_env, run_cli


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return process_env(database_url, tmp_path / "data", COLUMNS="200")


async def admin_status(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    response = await client.get("/api/admin/users", headers=bearer(tokens))
    return response.status_code


async def roles(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[str]:
    response = await client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: list[str] = response.json()["roles"]
    return found


async def test_a_plain_user_is_refused_and_an_anonymous_caller_unauthenticated(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    assert await roles(client, tokens) == []
    refused = await client.get("/api/admin/users", headers=bearer(tokens))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "this needs the admin role"}
    anonymous = await client.get("/api/admin/users")
    assert anonymous.status_code == 401


async def test_a_revoke_takes_effect_on_the_very_next_request(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    tokens = await create_admin(client, container, wallet)
    assert await admin_status(client, tokens) == 200  # the user row now cached
    assert await roles(client, tokens) == ["admin"]

    change = await container.admin.revoke(Actor.cli(), wallet.address)
    assert change.changed

    assert await admin_status(client, tokens) == 403
    assert await roles(client, tokens) == []


async def test_grant_and_revoke_through_the_cli_reach_the_running_service(
    client: httpx.AsyncClient, container: Container, cli_env: dict[str, str]
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    assert await admin_status(client, tokens) == 403  # cached as a plain user

    granted = await run_cli(cli_env, "admin", "grant", wallet.address)
    assert granted.returncode == 0, granted.output
    assert f"granted admin to {wallet.address}" in granted.output
    assert await admin_status(client, tokens) == 200
    again = await run_cli(cli_env, "admin", "grant", wallet.address)
    assert again.returncode == 0, again.output
    assert "already an admin" in again.output

    revoked = await run_cli(cli_env, "admin", "revoke", wallet.address)
    assert revoked.returncode == 0, revoked.output
    assert f"revoked admin from {wallet.address}" in revoked.output
    assert await admin_status(client, tokens) == 403

    audit_reader = await create_admin(client, container)
    entries = await audit_entries(client, audit_reader, actor="cli")
    mine = [e for e in entries if e["target_id"] == tokens["user"]["id"]]
    assert [e["action"] for e in mine] == ["role.revoke", "role.grant"]
    assert all(e["actor_type"] == "cli" and e["request_id"] is None for e in mine)


async def test_granting_a_wallet_without_an_account_fails_cleanly(
    container: Container, cli_env: dict[str, str]
) -> None:
    unknown = Wallet().address
    result = await run_cli(cli_env, "admin", "grant", unknown)
    assert result.returncode != 0
    assert f"no account has the wallet {unknown}" in result.output
    assert "Traceback" not in result.output
    malformed = await run_cli(cli_env, "admin", "revoke", "not-a-wallet")
    assert malformed.returncode != 0
    assert "Traceback" not in malformed.output
    with pytest.raises(NotFound):
        await container.admin.grant(Actor.cli(), unknown)


async def test_admin_wallets_make_admins_whatever_the_stored_role(
    client: httpx.AsyncClient, container: Container, serve: Serve
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)  # registered as a plain user
    async with serve(ADMIN_WALLETS=[wallet.address]) as configured:
        app = create_app(configured, manage_lifespan=False)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 5555))
        async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as other:
            assert await admin_status(other, tokens) == 200
            assert await roles(other, tokens) == ["admin"]
            change = await configured.admin.revoke(Actor.cli(), wallet.address)
            assert not change.changed
            assert change.admin_by_configuration
            assert await admin_status(other, tokens) == 200
            listed = await other.get(
                "/api/admin/users",
                params={"query": wallet.address},
                headers=bearer(tokens),
            )
            [user] = listed.json()
            assert (user["role"], user["roles"]) == ("user", ["admin"])
    # Not in this service's ADMIN_WALLETS: a plain user here.
    assert await admin_status(client, tokens) == 403


async def test_openapi_declares_the_admin_gates_403_on_every_admin_route(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    admin_operations = [
        operation
        for path, operations in schema["paths"].items()
        if path.startswith("/api/admin/")
        for operation in operations.values()
    ]
    # users, user, sessions, legal, audit, kyc x3, webhooks x5, redeliver
    assert len(admin_operations) == 14
    for operation in admin_operations:
        forbidden = operation["responses"]["403"]
        assert forbidden["description"] == "The admin role is required"
        body = forbidden["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/ErrorBody"}
        assert "401" in operation["responses"]
        assert operation["security"] == [{"HTTPBearer": []}]
    # The compliance gate's 403 still names the pending documents.
    escrow = schema["paths"]["/api/escrow/balance"]["get"]["responses"]["403"]
    assert escrow["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ComplianceErrorOut"
    }
