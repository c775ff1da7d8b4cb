"""Sessions over HTTP: refresh rotation, reuse detection, logout, bearer checks.

Refresh tokens are opaque and stored as SHA-256 only; each use rotates them.
Replaying a rotated token ends its whole session, except that the immediate
parent is honoured once more for about ten seconds (two tabs refreshing at
once) and only until its child has been used; test_refresh_grace.py shows the
"once".
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.infrastructure.persistence.models import Base
from tests.helpers import bearer, create_user, login

if TYPE_CHECKING:
    from tests.helpers import TestClock

GRACE = timedelta(seconds=10)
REFRESH_LIFETIME = timedelta(days=30)


# --- helpers -------------------------------------------------------------------------


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": refresh_token})


async def rotate(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    response = await refresh(client, refresh_token)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    return (await client.get("/api/users/me", headers=bearer(tokens))).status_code


def session_of(tokens: dict[str, Any]) -> str:
    sid: str = jwt.decode(tokens["access_token"], options={"verify_signature": False})[
        "sid"
    ]
    return sid


async def rows(container: Container, sql: str, **params: Any) -> list[Any]:
    async with container.engine.connect() as connection:
        return list((await connection.execute(text(sql), params)).all())


async def session_row(container: Container, session_id: str) -> Any:
    [row] = await rows(
        container,
        "SELECT user_id, revoked_at, revoked_reason FROM auth_sessions WHERE id = :id",
        id=uuid.UUID(session_id),
    )
    return row


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert isinstance(response.json()["detail"], str)
    assert response.headers["www-authenticate"] == "Bearer"


# --- access token contents -----------------------------------------------------------


async def test_sign_in_issues_a_jwt_bound_to_user_wallet_and_a_live_session(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    claims = jwt.decode(
        tokens["access_token"],
        container.settings.JWT_SECRET_KEY.get_secret_value(),  # type: ignore[union-attr]
        algorithms=["HS256"],
        audience="pourtier-api",
        issuer="pourtier",
    )
    assert claims["sub"] == tokens["user"]["id"]
    assert claims["wallet"] == wallet.address
    assert {"jti", "iat", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == tokens["expires_in"] == 30 * 60
    row = await session_row(container, claims["sid"])
    assert str(row.user_id) == tokens["user"]["id"]
    assert row.revoked_at is None


# --- refresh rotation ----------------------------------------------------------------


async def test_refresh_rotates_and_stores_only_sha256_hashes(
    client: httpx.AsyncClient, container: Container
) -> None:
    first = await create_user(client)
    second = await rotate(client, first["refresh_token"])

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["user"]["id"] == first["user"]["id"]
    assert session_of(second) == session_of(first)

    stored = await rows(
        container,
        "SELECT id, token_hash, parent_id, used_at, session_id FROM refresh_tokens "
        "ORDER BY issued_at, used_at NULLS LAST",
    )
    assert len(stored) == 2
    by_hash = {row.token_hash: row for row in stored}
    old, new = (
        by_hash[sha256(first["refresh_token"])],
        by_hash[sha256(second["refresh_token"])],
    )
    assert old.parent_id is None
    assert old.used_at is not None
    assert new.parent_id == old.id
    assert new.used_at is None
    assert str(old.session_id) == str(new.session_id) == session_of(first)

    for table in Base.metadata.sorted_tables:
        dump = await rows(container, f"SELECT t::text FROM {table.name} t")  # noqa: S608
        for (line,) in dump:
            for raw in (first["refresh_token"], second["refresh_token"]):
                assert raw not in line, f"raw refresh token stored in {table.name}"


async def test_a_rotated_chain_keeps_working(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    seen = {tokens["refresh_token"]}
    for _ in range(4):
        tokens = await rotate(client, tokens["refresh_token"])
        assert tokens["refresh_token"] not in seen
        seen.add(tokens["refresh_token"])
        assert await me(client, tokens) == 200


@pytest.mark.parametrize("token", ["unknown-token", "x" * 256])
async def test_an_unknown_refresh_token_is_refused(
    client: httpx.AsyncClient, token: str
) -> None:
    await create_user(client)
    assert_refused(await refresh(client, token))


async def test_an_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    response = await refresh(client, tokens["access_token"])
    assert response.status_code in (401, 422), response.text
    assert await me(client, tokens) == 200


# --- reuse detection -----------------------------------------------------------------


async def test_reuse_after_the_grace_ends_the_whole_session(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    first = await create_user(client)
    second = await rotate(client, first["refresh_token"])
    assert await me(client, second) == 200

    clock.offset = GRACE + timedelta(seconds=2)
    assert_refused(await refresh(client, first["refresh_token"]))

    row = await session_row(container, session_of(first))
    assert row.revoked_at is not None
    assert row.revoked_reason == "token_reuse"
    assert_refused(await refresh(client, second["refresh_token"]))
    assert await me(client, second) == 401
    assert await me(client, first) == 401


async def test_a_parent_is_refused_once_its_child_has_been_used_even_in_grace(
    client: httpx.AsyncClient, container: Container
) -> None:
    first = await create_user(client)
    second = await rotate(client, first["refresh_token"])
    third = await rotate(client, second["refresh_token"])

    assert_refused(await refresh(client, first["refresh_token"]))

    assert (await session_row(container, session_of(first))).revoked_at is not None
    assert_refused(await refresh(client, third["refresh_token"]))
    assert await me(client, third) == 401


async def test_a_grandparent_replay_ends_the_session(
    client: httpx.AsyncClient, container: Container
) -> None:
    chain = [await create_user(client)]
    for _ in range(3):
        chain.append(await rotate(client, chain[-1]["refresh_token"]))
    assert await me(client, chain[-1]) == 200

    assert_refused(await refresh(client, chain[1]["refresh_token"]))

    assert (await session_row(container, session_of(chain[0]))).revoked_reason == (
        "token_reuse"
    )
    assert_refused(await refresh(client, chain[-1]["refresh_token"]))
    assert await me(client, chain[-1]) == 401


async def test_the_immediate_parent_is_honoured_within_the_grace(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    first = await create_user(client)
    tab_a = await rotate(client, first["refresh_token"])
    clock.offset = GRACE - timedelta(seconds=2)
    tab_b = await rotate(client, first["refresh_token"])

    assert tab_b["refresh_token"] != tab_a["refresh_token"]
    assert session_of(tab_b) == session_of(tab_a) == session_of(first)
    assert (await session_row(container, session_of(first))).revoked_at is None
    assert await me(client, tab_a) == 200


async def test_two_tabs_refreshing_at_once_both_stay_signed_in(
    client: httpx.AsyncClient, container: Container
) -> None:
    first = await create_user(client)
    responses = await asyncio.gather(
        refresh(client, first["refresh_token"]),
        refresh(client, first["refresh_token"]),
    )
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    tab_a, tab_b = (r.json() for r in responses)
    assert tab_a["refresh_token"] != tab_b["refresh_token"]
    assert (await session_row(container, session_of(first))).revoked_at is None

    for tab in (tab_a, tab_b):
        assert await me(client, tab) == 200
        assert await me(client, await rotate(client, tab["refresh_token"])) == 200

    [(children,)] = await rows(
        container,
        "SELECT count(*) FROM refresh_tokens WHERE parent_id = "
        "(SELECT id FROM refresh_tokens WHERE token_hash = :h)",
        h=sha256(first["refresh_token"]),
    )
    assert children == 2


async def test_a_refresh_token_expires_after_thirty_days(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    old = await create_user(client)
    young = await create_user(client)

    clock.offset = REFRESH_LIFETIME - timedelta(minutes=1)
    await rotate(client, young["refresh_token"])

    clock.offset = REFRESH_LIFETIME + timedelta(seconds=5)
    response = await refresh(client, old["refresh_token"])
    assert_refused(response)
    assert "expired" in response.json()["detail"]


# --- logout --------------------------------------------------------------------------


async def test_logout_ends_that_session_only(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    laptop = await create_user(client, wallet)
    phone = await login(client, wallet)
    assert session_of(laptop) != session_of(phone)

    response = await client.post("/api/auth/logout", headers=bearer(laptop))
    assert response.status_code == 204, response.text

    assert await me(client, laptop) == 401
    assert_refused(await refresh(client, laptop["refresh_token"]))
    assert_refused(await client.post("/api/auth/logout", headers=bearer(laptop)))
    row = await session_row(container, session_of(laptop))
    assert row.revoked_reason == "logout"

    assert await me(client, phone) == 200
    assert await me(client, await rotate(client, phone["refresh_token"])) == 200
    assert (await session_row(container, session_of(phone))).revoked_at is None


async def test_the_session_check_is_per_session_not_per_user(
    client: httpx.AsyncClient,
) -> None:
    """Same user, same key, fresh token: refused only because its session ended."""
    wallet = Wallet()
    await create_user(client, wallet)
    ended = await login(client, wallet)
    live = await login(client, wallet)
    assert await me(client, ended) == 200

    assert (
        await client.post("/api/auth/logout", headers=bearer(ended))
    ).status_code == 204

    after = await rotate(client, live["refresh_token"])
    assert await me(client, after) == 200
    assert await me(client, live) == 200
    assert await me(client, ended) == 401


async def test_a_validly_signed_token_naming_a_session_of_another_user_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    alice_user = await container.users.get_visible(
        uuid.UUID(alice["user"]["id"]), uuid.UUID(alice["user"]["id"])
    )
    forged = container.auth.tokens.issue(
        alice_user, uuid.UUID(session_of(bob)), container.auth.clock()
    )
    assert await me(client, {"access_token": forged}) == 401
    unknown = container.auth.tokens.issue(
        alice_user, uuid.uuid4(), container.auth.clock()
    )
    assert await me(client, {"access_token": unknown}) == 401
    assert await me(client, alice) == 200
    assert await me(client, bob) == 200


async def test_logout_all_ends_every_session_of_the_user_and_counts_them(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    sessions = [await create_user(client, wallet)]
    sessions += [await login(client, wallet) for _ in range(2)]
    bystander = await create_user(client)

    response = await client.post("/api/auth/logout-all", headers=bearer(sessions[1]))
    assert response.status_code == 200, response.text
    assert response.json() == {"sessions_ended": 3}

    for tokens in sessions:
        assert await me(client, tokens) == 401
        assert_refused(await refresh(client, tokens["refresh_token"]))
        row = await session_row(container, session_of(tokens))
        assert row.revoked_reason == "logout_all"
    assert await me(client, bystander) == 200
    assert await me(client, await rotate(client, bystander["refresh_token"])) == 200

    again = await login(client, wallet)
    response = await client.post("/api/auth/logout-all", headers=bearer(again))
    assert response.json() == {"sessions_ended": 1}


async def test_logout_all_does_not_count_sessions_already_ended(
    client: httpx.AsyncClient,
) -> None:
    wallet = Wallet()
    gone = await create_user(client, wallet)
    live = await login(client, wallet)
    assert (
        await client.post("/api/auth/logout", headers=bearer(gone))
    ).status_code == 204
    response = await client.post("/api/auth/logout-all", headers=bearer(live))
    assert response.json() == {"sessions_ended": 1}


# --- bearer checks -------------------------------------------------------------------


def _none_token() -> str:
    claims = {
        "sub": str(uuid.uuid4()),
        "wallet": "x",
        "sid": str(uuid.uuid4()),
        "jti": "j",
        "iat": 0,
        "exp": 4_000_000_000,
        "iss": "pourtier",
        "aud": "pourtier-api",
    }
    return jwt.encode(claims, "", algorithm="none", headers={"kid": "primary"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": f"Bearer {_none_token()}"},
    ],
    ids=["missing", "empty", "dotted", "garbage", "basic", "alg-none"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/users/me"),
        ("POST", "/api/auth/logout"),
        ("POST", "/api/auth/logout-all"),
    ],
)
async def test_a_missing_or_bad_bearer_is_401_with_json_and_challenge(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    tokens = await create_user(client)
    response = await client.request(method, path, headers=headers)
    assert_refused(response)
    assert response.headers["content-type"].startswith("application/json")
    assert await me(client, tokens) == 200


async def test_access_token_lifetime_is_judged_by_the_service_clock(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    tokens = await create_user(client)
    clock.offset = timedelta(minutes=29)
    assert await me(client, tokens) == 200
    clock.offset = timedelta(minutes=30, seconds=1)
    response = await client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 401
    assert response.json()["detail"] == "token check failed: access token has expired"


async def test_a_token_issued_ahead_of_this_clock_within_skew_is_accepted(
    client: httpx.AsyncClient, clock: TestClock
) -> None:
    clock.offset = timedelta(seconds=45)
    tokens = await create_user(client)
    clock.offset = timedelta(0)
    assert await me(client, tokens) == 200
    clock.offset = timedelta(seconds=90)
    later = await create_user(client)
    clock.offset = timedelta(0)
    assert await me(client, later) == 401
