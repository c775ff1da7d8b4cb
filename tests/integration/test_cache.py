"""The cache on the hot reads: read-through, invalidated by every write, counted.

The session container listens for the database's change notifications, as a
served process does. "Cached" is proven, not assumed: a request served from
the cache sends no SQL at all (the engine's statement counter stays put), so
each test below first shows the old value is cached, then makes the write,
then reads at once, without waiting for anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.legal import DocumentType
from pourtier.infrastructure.cache.invalidation import listen_dsn
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI
from tests.helpers import (
    active_document_ids,
    bearer,
    create_signed_message,
    create_user,
)
from tests.subscription_helpers import lossy_subscriptions, subscribe
from tests.support.escrow import create_funded_escrow
from tests.support.processes import process_env

_SCRIPT = Path(sys.executable).with_name("pourtier")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pourtier.cli"]

ADMIN_SCRIPT = """
import asyncio, sys
import asyncpg

async def main() -> None:
    connection = await asyncpg.connect(sys.argv[1])
    await connection.execute(sys.argv[2], *sys.argv[3:])
    await connection.close()

asyncio.run(main())
"""


def metric(container: Container, name: str, **labels: str) -> float:
    value = container.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def queries(container: Container) -> float:
    return metric(container, "pourtier_db_queries_total")


def cache_counts(container: Container) -> tuple[float, float, float]:
    return (
        metric(container, "pourtier_cache_hits_total", cache_type="L1"),
        metric(container, "pourtier_cache_hits_total", cache_type="L2"),
        metric(container, "pourtier_cache_misses_total"),
    )


async def settle(container: Container) -> None:
    """Wait until every change committed so far has been applied to the cache."""
    await container.invalidations.barrier()


async def cached_get(
    client: httpx.AsyncClient,
    container: Container,
    path: str,
    tokens: dict[str, Any] | None = None,
) -> httpx.Response:
    """GET twice; the second must be answered without one SQL statement."""
    headers = bearer(tokens) if tokens else {}
    first = await client.get(path, headers=headers)
    before = queries(container)
    second = await client.get(path, headers=headers)
    assert queries(container) == before, f"{path} was not served from the cache"
    assert second.status_code == first.status_code
    assert second.json() == first.json()
    return second


async def status(client: httpx.AsyncClient, path: str, tokens: dict[str, Any]) -> int:
    return (await client.get(path, headers=bearer(tokens))).status_code


async def run(*command: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode("utf-8", "replace")
    assert process.returncode == 0, text
    return text


async def admin_sql(database_url: str, sql: str, *params: str) -> None:
    """What an administrator's script does: plain SQL from another process."""
    await run(
        sys.executable, "-c", ADMIN_SCRIPT, listen_dsn(database_url), sql, *params
    )


# --- zero queries and true counts ----------------------------------------------------


async def test_cached_me_and_check_send_no_sql_at_all(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await settle(container)
    me = await client.get("/api/users/me", headers=bearer(tokens))
    check = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert me.status_code == check.status_code == 200
    before, counted = queries(container), cache_counts(container)

    for _ in range(5):
        again = await client.get("/api/users/me", headers=bearer(tokens))
        assert again.json() == me.json()
        access = await client.get("/api/subscriptions/check", headers=bearer(tokens))
        assert access.json() == check.json()

    assert queries(container) == before
    l1, l2, misses = cache_counts(container)
    # Each request reads five cached values: session and user (the auth
    # dependency), then active documents and accepted ids (the profile or the
    # compliance gate) and the user again or the subscription snapshot.
    assert (l1 - counted[0], l2 - counted[1], misses - counted[2]) == (50, 0, 0)


async def test_hits_and_misses_are_counted_truly(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await settle(container)
    await container.cache.clear()
    (l1, l2, misses), sent = cache_counts(container), queries(container)

    assert (await status(client, "/api/users/me", tokens)) == 200
    # session, user, active documents, accepted ids: one SELECT each; the
    # profile's second read of the user is the one L1 hit.
    assert cache_counts(container) == (l1 + 1, l2, misses + 4)
    assert queries(container) == sent + 4

    assert (await status(client, "/api/users/me", tokens)) == 200
    assert cache_counts(container) == (l1 + 6, l2, misses + 4)
    assert queries(container) == sent + 4

    text = (await client.get("/metrics")).text
    assert f'pourtier_cache_hits_total{{cache_type="L1"}} {l1 + 6}' in text
    assert f"pourtier_cache_misses_total {misses + 4}" in text


async def test_nothing_is_cached_while_invalidations_cannot_be_heard(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await container.invalidations.stop()
    try:
        assert container.cache.coherent is False
        await client.get("/api/users/me", headers=bearer(tokens))
        sent = queries(container)
        await client.get("/api/users/me", headers=bearer(tokens))
        assert queries(container) > sent
    finally:
        await container.invalidations.start()
    assert container.cache.coherent is True
    await cached_get(client, container, "/api/users/me", tokens)


# --- every write that changes a cached read invalidates it -----------------------


async def test_a_profile_change_is_read_back_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    user_id = tokens["user"]["id"]
    await settle(container)
    assert (await cached_get(client, container, "/api/users/me", tokens)).json()[
        "display_name"
    ] is None
    await cached_get(client, container, f"/api/users/{user_id}", tokens)

    patched = await client.patch(
        "/api/users/me", json={"display_name": "Ada"}, headers=bearer(tokens)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "Ada"

    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.json()["display_name"] == "Ada"
    by_id = await client.get(f"/api/users/{user_id}", headers=bearer(tokens))
    assert by_id.json()["display_name"] == "Ada"


async def test_a_logged_out_session_is_refused_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await settle(container)
    await cached_get(client, container, "/api/users/me", tokens)
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    out = await client.post("/api/auth/logout", headers=bearer(tokens))
    assert out.status_code == 204

    for path in ("/api/users/me", "/api/subscriptions/check"):
        refused = await client.get(path, headers=bearer(tokens))
        assert refused.status_code == 401, path
    # ...and stays refused once the refusal itself is cached
    await settle(container)
    refusal = await cached_get(client, container, "/api/users/me", tokens)
    assert refusal.status_code == 401


async def test_logout_all_refuses_every_session_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet = Wallet()
    first = await create_user(client, wallet)
    login = await client.post(
        "/api/auth/login", json=await create_signed_message(client, wallet)
    )
    assert login.status_code == 200, login.text
    second = login.json()
    await settle(container)
    for tokens in (first, second):
        await cached_get(client, container, "/api/users/me", tokens)

    ended = await client.post("/api/auth/logout-all", headers=bearer(second))
    assert ended.status_code == 200, ended.text

    for tokens in (first, second):
        refused = await client.get("/api/users/me", headers=bearer(tokens))
        assert refused.status_code == 401


async def test_publishing_and_accepting_documents_take_effect_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await settle(container)
    documents = await cached_get(client, container, "/api/legal/documents")
    assert len(documents.json()) == 3
    me = await cached_get(client, container, "/api/users/me", tokens)
    assert me.json()["pending_documents"] == []
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    new = await container.legal.publish(
        DocumentType.PRIVACY_POLICY, "2.0", "Privacy Policy v2", "new terms"
    )

    assert str(new.id) in await active_document_ids(client)
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert [d["id"] for d in me.json()["pending_documents"]] == [str(new.id)]
    gated = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert gated.status_code == 403
    # the refusal is served from the cache too, and still right
    await settle(container)
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    accepted = await client.post(
        "/api/legal/accept",
        json={"document_ids": [str(new.id)]},
        headers=bearer(tokens),
    )
    assert accepted.status_code == 200, accepted.text

    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.json()["pending_documents"] == []
    access = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert access.status_code == 200


async def test_a_document_published_by_the_cli_is_honoured_at_once(
    client: httpx.AsyncClient,
    container: Container,
    database_url: str,
    tmp_path: Path,
) -> None:
    tokens = await create_user(client)
    await settle(container)
    before = (await cached_get(client, container, "/api/legal/documents")).json()
    await cached_get(client, container, "/api/users/me", tokens)
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    path = tmp_path / "risk-v3.md"
    path.write_text("# Risk Disclosure v3\n\nMarkets move.\n", "utf-8")
    output = await run(
        *CLI,
        "legal",
        "publish",
        "--type",
        "risk_disclosure",
        "--version",
        "3.0",
        "--title",
        "Risk Disclosure v3",
        str(path),
        env=process_env(database_url, tmp_path / "cli"),
    )
    assert "published risk_disclosure 3.0" in output

    documents = (await client.get("/api/legal/documents")).json()
    risk = next(d for d in documents if d["document_type"] == "risk_disclosure")
    assert risk["version"] == "3.0"
    assert risk["id"] not in {d["id"] for d in before}
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert [d["id"] for d in me.json()["pending_documents"]] == [risk["id"]]
    gated = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert gated.status_code == 403


async def test_an_administrators_sql_is_honoured_at_once(
    client: httpx.AsyncClient, container: Container, database_url: str
) -> None:
    tokens = await create_user(client)
    user_id = tokens["user"]["id"]
    await settle(container)
    await cached_get(client, container, "/api/users/me", tokens)

    await admin_sql(
        database_url,
        "UPDATE users SET display_name = $1 WHERE id::text = $2",
        "Renamed by support",
        user_id,
    )
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.json()["display_name"] == "Renamed by support"

    await settle(container)
    await cached_get(client, container, "/api/users/me", tokens)
    await admin_sql(
        database_url,
        "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'admin' "
        "WHERE user_id::text = $1",
        user_id,
    )
    refused = await client.get("/api/users/me", headers=bearer(tokens))
    assert refused.status_code == 401


# --- subscriptions ------------------------------------------------------------------


async def test_subscribing_settling_and_cancelling_show_in_the_check_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    _, tokens = await create_funded_escrow(client, container, deposit="100")
    await settle(container)
    none = await cached_get(client, container, "/api/subscriptions/check", tokens)
    assert (none.json()["has_access"], none.json()["plan"]) == (False, None)

    lossy = lossy_subscriptions(container, 0.2)
    app = create_app(
        dataclasses.replace(container, subscriptions=lossy), manage_lifespan=False
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as slow:
        pending = await subscribe(slow, tokens, "pro")
    assert pending.status_code == 202, pending.text
    subscription_id = pending.json()["id"]

    check = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert (check.json()["plan"], check.json()["status"]) == ("pro", "pending")
    assert check.json()["has_access"] is False
    await settle(container)
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    assert await container.escrow.follower.run_once() == 1  # the charge settles

    check = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert (check.json()["has_access"], check.json()["status"]) == (True, "active")
    await settle(container)
    await cached_get(client, container, "/api/subscriptions/check", tokens)

    cancelled = await client.delete(
        f"/api/subscriptions/{subscription_id}",
        params={"immediately": "true"},
        headers=bearer(tokens),
    )
    assert cancelled.status_code == 200, cancelled.text
    check = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert check.json() == {
        "has_access": False,
        "plan": None,
        "status": None,
        "expires_at": None,
        "max_active_strategies": 0,
        "features": [],
    }


@pytest.fixture
async def no_stray_tasks() -> AsyncIterator[None]:
    """The cache's loads in flight never outlive a test."""
    yield
    await asyncio.sleep(0)
    stray = [
        t
        for t in asyncio.all_tasks()
        if "TwoLevelCache._fetch" in repr(t.get_coro()) and not t.done()
    ]
    assert stray == []


@pytest.mark.usefixtures("no_stray_tasks")
async def test_many_concurrent_first_reads_share_their_loads(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    await settle(container)
    await container.cache.clear()
    sent = queries(container)
    answers = await asyncio.gather(
        *(client.get("/api/users/me", headers=bearer(tokens)) for _ in range(30))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    # four values to load (session, user, documents, accepted ids), once each
    assert queries(container) - sent == 4
