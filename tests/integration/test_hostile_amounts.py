"""Amounts that are not plain decimals of at most 6 places within u64 are 400s.

Every route that takes a USDC amount is asked with exponent notation, NaN and
infinities, more than 6 decimals, values past u64, and other lookalikes
(non-ASCII digits, signs, separators, whitespace). Each must be a 400 naming
the field, and nothing may be recorded or moved on chain. A valid amount on
the same route succeeds, so the 400s are the parser's doing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.errors import InvalidInput
from pourtier.domain.money import U64_MAX, parse_usdc
from tests.helpers import bearer
from tests.support.escrow import create_funded_escrow, fund_wallet, funded_user

HOSTILE = [
    # exponent notation
    "1e5",
    "1E5",
    "1e-2",
    "2.5e1",
    "0e0",
    # not a number, or not finite
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    # more than 6 decimals
    "1.0000001",
    "0.1234567",
    "0.0000001",
    "12.345678900",
    # beyond u64 (U64_MAX base units is 18446744073709.551615)
    "18446744073709.551616",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "1" + "0" * 40,
    # lookalikes
    "0x10",
    "1_000",
    " 1",
    "1 ",
    "+1",
    "1,5",
    "\u0661\u0662",  # Arabic-Indic 12
    "\uff11\uff12",  # full-width 12
    "\u00b2",  # superscript 2
    "1.2.3",
    ".",
    "--1",
    "-1",
    "0",
    "-0.000000",
]


@dataclass
class AmountRoute:
    path: str
    field: str
    valid: str
    body: Callable[[Any], dict[str, Any]]


async def escrow_rows(container: Container) -> int:
    async with container.engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM escrow_transactions")
        )
    return int(count or 0)


async def chain_balances(container: Container, wallet: Wallet) -> tuple[int, int]:
    escrow = (await container.chain.escrow_state(wallet.address)).balance
    return await container.chain.wallet_usdc_balance(wallet.address), escrow


Setup = Callable[
    [httpx.AsyncClient, Container], Awaitable[tuple[Wallet, dict[str, Any]]]
]


async def funded_escrow(
    client: httpx.AsyncClient, container: Container
) -> tuple[Wallet, dict[str, Any]]:
    return await create_funded_escrow(client, container, deposit="50")


async def fresh_user(
    client: httpx.AsyncClient, container: Container
) -> tuple[Wallet, dict[str, Any]]:
    wallet, tokens = await funded_user(client, "10")
    return wallet, tokens


ROUTES: dict[str, tuple[AmountRoute, Setup]] = {
    "deposit": (
        AmountRoute("/api/escrow/deposit", "amount", "1.5", lambda a: {"amount": a}),
        funded_escrow,
    ),
    "withdraw": (
        AmountRoute("/api/escrow/withdraw", "amount", "2", lambda a: {"amount": a}),
        funded_escrow,
    ),
    "initialize": (
        AmountRoute(
            "/api/escrow/initialize", "allowance", "120", lambda a: {"allowance": a}
        ),
        fresh_user,
    ),
}


@pytest.mark.parametrize("name", sorted(ROUTES))
async def test_escrow_routes_refuse_hostile_amounts(
    client: httpx.AsyncClient, container: Container, name: str
) -> None:
    route, setup = ROUTES[name]
    wallet, tokens = await setup(client, container)
    rows_before = await escrow_rows(container)
    balances_before = await chain_balances(container, wallet)

    refused = {}
    for amount in HOSTILE:
        response = await client.post(
            route.path, json=route.body(amount), headers=bearer(tokens)
        )
        refused[amount] = response.status_code
        assert response.status_code == 400, (amount, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str)
        assert detail.startswith(route.field), (amount, detail)
    assert set(refused.values()) == {400}

    assert await escrow_rows(container) == rows_before
    assert await chain_balances(container, wallet) == balances_before

    # JSON numbers are not decimal strings: a schema error, before any parsing.
    for number in (1e5, 1.5, 10**30):
        response = await client.post(
            route.path, json=route.body(number), headers=bearer(tokens)
        )
        assert response.status_code == 422, (number, response.text)

    valid = await client.post(
        route.path, json=route.body(route.valid), headers=bearer(tokens)
    )
    assert valid.status_code == 200, valid.text
    assert await escrow_rows(container) == rows_before + 1


async def test_the_faucet_refuses_hostile_amounts(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    await fund_wallet(client, wallet, "3")
    before = await container.chain.wallet_usdc_balance(wallet.address)
    for amount in HOSTILE:
        response = await client.post(
            "/api/dev/faucet",
            json={"wallet_address": wallet.address, "amount": amount},
        )
        assert response.status_code == 400, (amount, response.text)
        assert response.json()["detail"].startswith("amount"), amount
    assert await container.chain.wallet_usdc_balance(wallet.address) == before

    valid = await client.post(
        "/api/dev/faucet", json={"wallet_address": wallet.address, "amount": "0.5"}
    )
    assert valid.status_code == 200, valid.text
    assert valid.json()["usdc_balance"] == "3.500000"


def test_the_bounds_themselves_are_accepted() -> None:
    """The refusals above are of what is past the edges, not of the edges."""
    assert parse_usdc("18446744073709.551615") == U64_MAX
    assert parse_usdc("0.000001") == 1
    assert parse_usdc("1.500000") == 1_500_000
    assert parse_usdc("007") == 7_000_000
    with pytest.raises(InvalidInput):
        parse_usdc("18446744073709.551616")
