"""Linked wallets: another wallet, proven by a `link` message it signed, signs
in to the same account; a wallet is one account's at most, whoever races."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.errors import Conflict
from pourtier.domain.sign_in import DEFAULT_STATEMENT, LINK_STATEMENT
from pourtier.domain.users import UserWallet
from tests.admin_helpers import create_admin
from tests.helpers import (
    bearer,
    create_nonce,
    create_signed_message,
    create_user,
    link_wallet,
    login,
)
from tests.integration.test_auth_signin import (
    ENDPOINTS,
    assert_accepted,
    assert_refused,
    count,
    post,
    set_line,
    signed,
    wallet_for,
)

WALLETS = "/api/users/me/wallets"
Forge = Callable[[httpx.AsyncClient], Awaitable[Any]]
"""Makes a bad link body, asking the server for what it needs."""
PURPOSE_LINK = "nonce check failed: nonce was issued for link, not sign_in"


async def wallets(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[Any]:
    response = await client.get(WALLETS, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return found


async def addresses(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[str]:
    return [w["wallet_address"] for w in await wallets(client, tokens)]


async def test_a_linked_wallet_signs_in_to_the_same_account(
    client: httpx.AsyncClient, container: Container
) -> None:
    primary, other = Wallet(), Wallet()
    tokens = await create_user(client, primary)
    before = datetime.now(UTC)

    linked = await link_wallet(client, tokens, other)

    assert linked.status_code == 201, linked.text
    body = linked.json()
    assert set(body) == {"wallet_address", "linked_at", "primary"}
    assert (body["wallet_address"], body["primary"]) == (other.address, False)
    assert datetime.fromisoformat(body["linked_at"]) >= before.replace(microsecond=0)
    listed = await wallets(client, tokens)
    assert [(w["wallet_address"], w["primary"]) for w in listed] == [
        (primary.address, True),
        (other.address, False),
    ]
    assert listed[0]["linked_at"] == tokens["user"]["created_at"]

    signed_in = await login(client, other)
    assert signed_in["user"]["id"] == tokens["user"]["id"]
    # The account's primary wallet stays its identity, in the token too.
    assert signed_in["user"]["wallet_address"] == primary.address
    claims = container.auth.tokens.decode(signed_in["access_token"])
    assert claims.wallet_address == primary.address
    me = await client.get("/api/users/me", headers=bearer(signed_in))
    assert me.json()["id"] == tokens["user"]["id"]

    verified = await post(client, "verify", await create_signed_message(client, other))
    assert verified.json()["user_exists"] is True
    registered = await post(
        client, "register", await create_signed_message(client, other)
    )
    assert registered.status_code == 409, registered.text


def link_forgeries(owner: Wallet, other: Wallet) -> dict[str, tuple[str, Forge]]:
    """Case -> (the refusal, how to get the bad link body for `owner`)."""

    async def sign_in_message(client: httpx.AsyncClient) -> Any:
        return await create_signed_message(client, owner)

    async def sign_in_nonce_link_statement(client: httpx.AsyncClient) -> Any:
        message = (await create_nonce(client, owner))["message"]
        return signed(owner, set_line(message, 3, LINK_STATEMENT))

    async def nonce_of_another_wallet(client: httpx.AsyncClient) -> Any:
        message = (await create_nonce(client, other, "link"))["message"]
        return signed(owner, set_line(message, 1, owner.address))

    async def signed_by_another_key(client: httpx.AsyncClient) -> Any:
        body = await create_signed_message(client, owner, "link")
        return {**body, "signature": other.sign_message(body["message"])}

    return {
        "statement": (
            "statement check failed: message statement is not the link one",
            sign_in_message,
        ),
        "purpose": (
            "nonce check failed: nonce was issued for sign_in, not link",
            sign_in_nonce_link_statement,
        ),
        "nonce-wallet": (
            "nonce check failed: nonce was not issued to this wallet",
            nonce_of_another_wallet,
        ),
        "signature": (
            "signature check failed: signature does not match the wallet and message",
            signed_by_another_key,
        ),
    }


@pytest.mark.parametrize("case", list(link_forgeries(Wallet(), Wallet())))
async def test_a_bad_link_proof_is_refused_naming_the_check_and_links_nothing(
    client: httpx.AsyncClient, container: Container, case: str
) -> None:
    tokens = await create_user(client)
    wallet = Wallet()
    detail, forge = link_forgeries(wallet, Wallet())[case]

    refused = await client.post(
        WALLETS, json=await forge(client), headers=bearer(tokens)
    )

    assert_refused(refused, detail)
    assert await addresses(client, tokens) == [tokens["user"]["wallet_address"]]
    assert not await count(
        container,
        "SELECT count(*) FROM user_wallets WHERE wallet_address = :w",
        w=wallet.address,
    )
    assert (await link_wallet(client, tokens, wallet)).status_code == 201


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_link_nonce_never_signs_in(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    wallet = await wallet_for(client, endpoint)
    message = (await create_nonce(client, wallet, "link"))["message"]
    assert message.split("\n")[3] == LINK_STATEMENT
    as_issued = await post(client, endpoint, signed(wallet, message))
    assert_refused(
        as_issued, "statement check failed: message statement is not the sign_in one"
    )
    # With the sign-in statement signed over it, the nonce's purpose refuses.
    restated = signed(wallet, set_line(message, 3, DEFAULT_STATEMENT))
    assert_refused(await post(client, endpoint, restated), PURPOSE_LINK)
    fresh = await create_signed_message(client, wallet)
    assert_accepted(await post(client, endpoint, fresh), endpoint)


async def test_a_link_nonce_is_asked_with_a_wallet_and_a_known_purpose(
    client: httpx.AsyncClient,
) -> None:
    for body in (
        {"purpose": "link"},
        {"wallet_address": Wallet().address, "purpose": "merge"},
    ):
        response = await client.post("/api/auth/nonce", json=body)
        assert response.status_code == 422, response.text


async def test_unlinking_a_wallet_ends_its_sign_in_but_not_the_primary(
    client: httpx.AsyncClient,
) -> None:
    primary, other = Wallet(), Wallet()
    tokens = await create_user(client, primary)
    assert (await link_wallet(client, tokens, other)).status_code == 201

    primary_unlink = await client.delete(
        f"{WALLETS}/{primary.address}", headers=bearer(tokens)
    )
    assert primary_unlink.status_code == 409, primary_unlink.text
    assert "primary" in primary_unlink.json()["detail"]
    unlinked = await client.delete(f"{WALLETS}/{other.address}", headers=bearer(tokens))
    assert unlinked.status_code == 204, unlinked.text

    assert await addresses(client, tokens) == [primary.address]
    body = await create_signed_message(client, other)
    assert (await post(client, "login", body)).status_code == 404
    again = await client.delete(f"{WALLETS}/{other.address}", headers=bearer(tokens))
    assert again.status_code == 404
    # Free again: it may register an account of its own.
    assert_accepted(await post(client, "register", body), "register")


async def test_another_users_unknown_or_malformed_wallet_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    owner, intruder = await create_user(client), await create_user(client)
    theirs = Wallet()
    assert (await link_wallet(client, owner, theirs)).status_code == 201
    answers = [
        await client.delete(f"{WALLETS}/{address}", headers=bearer(intruder))
        for address in (
            theirs.address,
            owner["user"]["wallet_address"],
            Wallet().address,
            "0" * 40,  # not base58
            "1" * 44,  # 33 bytes
            "1" * 39 + "%00",  # NUL, which PostgreSQL text cannot hold
        )
    ]
    assert [a.status_code for a in answers] == [404] * 6
    assert {a.json()["detail"] for a in answers} == {"wallet not found"}
    assert await addresses(client, owner) == [
        owner["user"]["wallet_address"],
        theirs.address,
    ]
    for length in (31, 45):
        malformed = await client.delete(
            f"{WALLETS}/{'1' * length}", headers=bearer(intruder)
        )
        assert malformed.status_code == 422, malformed.text


async def test_a_wallet_of_any_account_cannot_be_linked(
    client: httpx.AsyncClient, container: Container
) -> None:
    mine, primary, theirs, linked_to_them = Wallet(), Wallet(), Wallet(), Wallet()
    tokens = await create_user(client, primary)
    them = await create_user(client, theirs)
    assert (await link_wallet(client, tokens, mine)).status_code == 201
    assert (await link_wallet(client, them, linked_to_them)).status_code == 201

    for wallet in (primary, mine, theirs, linked_to_them):
        refused = await link_wallet(client, tokens, wallet)
        assert refused.status_code == 409, (wallet.address, refused.text)
        assert refused.json() == {"detail": "this wallet already belongs to an account"}
    assert await addresses(client, tokens) == [primary.address, mine.address]
    assert await addresses(client, them) == [theirs.address, linked_to_them.address]


async def test_concurrent_links_of_one_wallet_to_two_accounts_admit_exactly_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    first, second = await create_user(client), await create_user(client)
    wallet = Wallet()
    bodies = [await create_signed_message(client, wallet, "link") for _ in range(2)]
    answers = await asyncio.gather(
        *(
            client.post(WALLETS, json=body, headers=bearer(tokens))
            for body, tokens in zip(bodies, (first, second), strict=True)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [
        a.text for a in answers
    ]
    owners = [
        tokens
        for tokens in (first, second)
        if wallet.address in await addresses(client, tokens)
    ]
    assert len(owners) == 1
    assert (await login(client, wallet))["user"]["id"] == owners[0]["user"]["id"]


async def test_the_database_alone_keeps_a_wallet_to_one_account(
    client: httpx.AsyncClient, container: Container
) -> None:
    """No check before the insert: the second link waits on the first's
    uncommitted row, then breaks the primary key, a conflict."""
    first, second = await create_user(client), await create_user(client)
    address, now = Wallet().address, datetime.now(UTC)

    async def link_to_second() -> None:
        async with container.auth.uow() as uow:
            user_id = uuid.UUID(second["user"]["id"])
            await uow.users.link_wallet(UserWallet(address, user_id, now))
            await uow.commit()

    async with container.auth.uow() as uow:
        user_id = uuid.UUID(first["user"]["id"])
        await uow.users.link_wallet(UserWallet(address, user_id, now))
        racing = asyncio.create_task(link_to_second())
        await asyncio.sleep(0.3)
        assert not racing.done()
        await uow.commit()
    with pytest.raises(Conflict):
        await racing
    assert address in await addresses(client, first)
    assert address not in await addresses(client, second)


async def test_linking_needs_a_signed_in_caller(client: httpx.AsyncClient) -> None:
    wallet = Wallet()
    body = await create_signed_message(client, wallet, "link")
    assert (await client.post(WALLETS, json=body)).status_code == 401
    assert (await client.get(WALLETS)).status_code == 401
    assert (await client.delete(f"{WALLETS}/{wallet.address}")).status_code == 401


async def test_an_operator_sees_the_users_wallets_and_finds_them_by_any(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await create_user(client)
    other = Wallet()
    assert (await link_wallet(client, tokens, other)).status_code == 201
    record = await client.get(
        f"/api/admin/users/{tokens['user']['id']}", headers=bearer(admin)
    )
    assert record.status_code == 200, record.text
    assert [(w["wallet_address"], w["primary"]) for w in record.json()["wallets"]] == [
        (tokens["user"]["wallet_address"], True),
        (other.address, False),
    ]
    prefix = other.address[:12].lower()
    found = await client.get(
        "/api/admin/users", params={"query": prefix}, headers=bearer(admin)
    )
    assert [u["id"] for u in found.json()] == [tokens["user"]["id"]]
