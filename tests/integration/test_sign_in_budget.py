"""A wallet's sign-in budget is spent only by requests that wallet signed.

Nonces are free to ask for naming any wallet, so a budget charged on the
wallet a body names would let anyone keep a chosen wallet at 429 from one IP.
Strangers spend only their own IP's budget; nothing they do kills a nonce the
wallet already holds.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.conftest import Serve
from tests.helpers import create_user
from tests.integration.test_rate_limit import (
    assert_limited,
    client_of,
    limit_state,
    nonce,
    random_ip,
)


def signed(
    wallet: Wallet, message: str, signer: Wallet | None = None
) -> dict[str, Any]:
    """A sign-in body for `wallet`, signed by `signer` (default: the wallet)."""
    return {
        "wallet_address": wallet.address,
        "message": message,
        "signature": (signer or wallet).sign_message(message),
    }


async def message_for(client: httpx.AsyncClient, wallet: Wallet) -> str:
    response = await nonce(client, wallet)
    assert response.status_code == 200, response.text
    message: str = response.json()["message"]
    return message


async def nonces_of(built: Container, wallet: Wallet) -> int:
    async with built.engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM auth_nonces WHERE wallet_address = :w"),
            {"w": wallet.address},
        )
    return int(found or 0)


async def test_a_flood_naming_a_wallet_neither_locks_it_out_nor_kills_its_nonce(
    serve: Serve,
) -> None:
    victim, impostor = Wallet(), Wallet()
    async with (
        serve(RATE_LIMIT_AUTH="20/minute") as built,
        client_of(built, random_ip()) as home,
        client_of(built, random_ip()) as attacker,
        client_of(built, random_ip()) as forger,
        client_of(built, random_ip()) as travelling,
    ):
        await create_user(home, victim)
        held = await message_for(home, victim)

        flood = [await nonce(attacker, victim) for _ in range(100)]
        issued = sum(r.status_code == 200 for r in flood)
        # Nonce issuance is limited per client IP: the flood is cut at 20.
        assert issued == 20, [r.status_code for r in flood]
        assert all(r.status_code == 429 for r in flood[issued:])
        # The wallet signs in at once from another IP, with the nonce it
        # fetched before the flood.
        response = await travelling.post("/api/auth/login", json=signed(victim, held))
        assert response.status_code == 200, response.text

        # Forged sign-ins naming the wallet fail their signature check, and
        # spend the forger's IP budget only.
        message = await message_for(forger, victim)
        for path in ("verify", "login") * 9 + ("login",):
            response = await forger.post(
                f"/api/auth/{path}", json=signed(victim, message, impostor)
            )
            assert response.status_code == 401, response.text
            assert response.json()["check"] == "signature"
        assert_limited(await nonce(forger, victim), 20)

        # The wallet signs in again, with a fresh nonce.
        again = signed(victim, await message_for(travelling, victim))
        response = await travelling.post("/api/auth/login", json=again)
        assert response.status_code == 200, response.text

        # The table holds what the IP budgets let through, nothing more:
        # registration's, the held one, 20 from the flood, the forger's one,
        # the fresh one.
        assert await nonces_of(built, victim) == 1 + 1 + 20 + 1 + 1


async def test_one_wallet_is_limited_across_ips_once_its_signature_verified(
    serve: Serve,
) -> None:
    wallet, impostor = Wallet(), Wallet()
    async with serve(RATE_LIMIT_AUTH="3/minute") as built:
        # Strangers naming the wallet from two IPs use up those IPs only.
        for _ in range(2):
            async with client_of(built, random_ip()) as stranger:
                message = await message_for(stranger, wallet)
                forged = signed(wallet, message, impostor)
                for path in ("verify", "login"):
                    response = await stranger.post(f"/api/auth/{path}", json=forged)
                    assert response.status_code == 401, response.text
                assert_limited(await nonce(stranger, wallet), 3)

        # The wallet's own signed requests spend its budget from any IP: it
        # registers from one, logs in from another, verifies from a third.
        async with client_of(built, random_ip()) as a:
            await create_user(a, wallet)
        async with client_of(built, random_ip()) as b:
            body = signed(wallet, await message_for(b, wallet))
            assert (await b.post("/api/auth/login", json=body)).status_code == 200
        async with client_of(built, random_ip()) as c:
            body = signed(wallet, await message_for(c, wallet))
            verified = await c.post("/api/auth/verify", json=body)
            assert verified.status_code == 200, verified.text
            # The wallet's window is the tightest: its IP has one left.
            assert limit_state(verified)[:2] == (3, 0)
        async with client_of(built, random_ip()) as d:
            body = signed(wallet, await message_for(d, wallet))
            assert_limited(await d.post("/api/auth/login", json=body), 3)
            # The IP itself still had budget: another wallet from it passes.
            assert (await nonce(d)).status_code == 200
