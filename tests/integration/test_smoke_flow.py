"""The whole happy path a front end walks, end to end over HTTP."""

from __future__ import annotations

import httpx

from pourtier.client.wallet import Wallet
from tests.helpers import (
    active_document_ids,
    bearer,
    create_signed_message,
    create_user,
)


async def test_register_then_login_then_profile(client: httpx.AsyncClient) -> None:
    wallet = Wallet()
    signed = await create_signed_message(client, wallet)
    verified = await client.post("/api/auth/verify", json=signed)
    assert verified.json() == {
        "valid": True,
        "wallet_address": wallet.address,
        "user_exists": False,
    }

    tokens = await create_user(client, wallet)
    assert tokens["token_type"] == "bearer"
    assert tokens["user"]["wallet_address"] == wallet.address

    login_body = await create_signed_message(client, wallet)
    login = await client.post("/api/auth/login", json=login_body)
    assert login.status_code == 200, login.text

    me = await client.get("/api/users/me", headers=bearer(login.json()))
    assert me.status_code == 200
    assert me.json()["wallet_address"] == wallet.address
    assert me.json()["pending_documents"] == []
    assert len(await active_document_ids(client)) == 3
