"""What L1 holds and how misses reach the database.

L1 keeps the decoded object, so a hit decodes nothing, and that object is
shared by every request: no caller may change it. A use case's misses share
one read transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import event

from pourtier.application.cached import CachedReads
from pourtier.di.container import Container
from pourtier.domain.cache import (
    ACTIVE_DOCUMENTS_KEY,
    accepted_documents_key,
    session_key,
    user_key,
)
from pourtier.domain.users import User
from tests.helpers import bearer, create_user


@contextmanager
def transactions(container: Container) -> Iterator[list[object]]:
    """Every transaction begun on the engine while inside."""
    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    engine = container.engine.sync_engine
    event.listen(engine, "begin", count)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", count)


async def signed_in(
    client: httpx.AsyncClient, container: Container
) -> tuple[dict[str, Any], uuid.UUID]:
    tokens = await create_user(client)
    await container.invalidations.barrier()
    return tokens, uuid.UUID(tokens["user"]["id"])


def session_of(tokens: dict[str, Any]) -> uuid.UUID:
    """The session id inside the access token (its `sid` claim)."""
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return uuid.UUID(claims["sid"])


async def test_l1_holds_the_decoded_object_and_hands_out_the_same_one(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens, user_id = await signed_in(client, container)
    assert (await client.get("/api/users/me", headers=bearer(tokens))).is_success

    held = container.cache.l1.get(user_key(user_id))
    assert isinstance(held, User)
    assert held.id == user_id
    assert isinstance(container.cache.l1.get(ACTIVE_DOCUMENTS_KEY), tuple)
    accepted = container.cache.l1.get(accepted_documents_key(user_id))
    assert isinstance(accepted, frozenset)
    reads = CachedReads(container.users.uow, container.cache)
    assert await reads.user(user_id) is held
    assert await reads.user(user_id) is held


async def test_a_caller_cannot_change_a_cached_value(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens, user_id = await signed_in(client, container)
    me = await client.get("/api/users/me", headers=bearer(tokens))
    reads = CachedReads(container.users.uow, container.cache)
    user = await reads.user(user_id)
    assert user is not None

    with pytest.raises(dataclasses.FrozenInstanceError):
        user.display_name = "Mallory"
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.update_profile({"email": "m@example.com"}, datetime.now(UTC))
    with pytest.raises(dataclasses.FrozenInstanceError):
        del user.email
    documents = await reads.active_documents()
    with pytest.raises(dataclasses.FrozenInstanceError):
        documents[0].title = "changed"
    session = container.cache.l1.get(session_key(session_of(tokens)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.revoked_at = datetime.now(UTC)  # type: ignore[attr-defined]

    # Still the database's values, for this request and the next.
    assert await reads.user(user_id) == User(**dataclasses.asdict(user))
    again = await client.get("/api/users/me", headers=bearer(tokens))
    assert again.json() == me.json()
    assert again.json()["display_name"] is None


async def test_a_use_cases_misses_share_one_read_transaction(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens, _ = await signed_in(client, container)
    await container.cache.clear()

    with transactions(container) as begun:
        me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.status_code == 200
    # Authentication (session, user), then the profile (active documents,
    # accepted ids; the user is an L1 hit): two transactions, not four.
    assert len(begun) == 2

    await container.cache.clear()
    with transactions(container) as begun:
        check = await client.get("/api/subscriptions/check", headers=bearer(tokens))
    assert check.status_code == 200
    # Authentication, the compliance gate, the subscription: three, not five.
    assert len(begun) == 3

    with transactions(container) as begun:
        assert (await client.get("/api/users/me", headers=bearer(tokens))).is_success
    assert begun == []
