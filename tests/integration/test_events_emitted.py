"""Every use case tells its change as an event, in the change's transaction:
a refused or rolled-back change tells nothing. (Subscriptions and payments:
test_subscription_events.py.)"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.domain.escrow import EscrowTransaction
from pourtier.domain.legal import DocumentType
from pourtier.domain.unit_of_work import UnitOfWork
from tests.admin_helpers import create_admin
from tests.event_helpers import (
    events_about,
    notification_kinds,
    the_event,
    types_about,
)
from tests.helpers import TestClock, bearer, create_user, link_wallet, login
from tests.integration.test_external_movements import (
    USDC,
    follow,
    owner_takes_out,
    stranger_sends,
)
from tests.kyc_helpers import decide, start_manual
from tests.support.escrow import (
    create_funded_escrow,
    escrow_round_trip,
    prepare_signed,
)


def uid(tokens: dict[str, object]) -> str:
    user = tokens["user"]
    assert isinstance(user, dict)
    return str(user["id"])


async def test_a_profile_change_is_told_by_field_names_and_a_refused_one_not_at_all(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    refused = await client.patch(
        "/api/users/me", json={"email": "not an email"}, headers=bearer(tokens)
    )
    assert refused.status_code in (400, 422), refused.text
    assert await types_about(container, uid(tokens)) == ["user.registered"]
    changed = await client.patch(
        "/api/users/me", json={"display_name": "Ada"}, headers=bearer(tokens)
    )
    assert changed.status_code == 200, changed.text
    event = await the_event(container, uid(tokens), "user.updated")
    assert (event["subject_type"], event["subject_id"]) == ("user", uid(tokens))
    assert event["sequence"] == 2  # after user.registered
    assert event["data"]["fields"] == ["display_name"]


async def test_accepting_a_new_legal_version_is_told_once_and_its_publication_notified(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    document = await container.legal.publish(
        DocumentType.PRIVACY_POLICY, f"9.{uuid.uuid4().hex[:6]}", "Privacy", "new"
    )
    assert "legal_version" in await notification_kinds(container, uid(tokens))
    body = {"document_ids": [str(document.id)]}
    for _ in range(2):  # accepting again changes nothing and tells nothing
        accepted = await client.post(
            "/api/legal/accept", json=body, headers=bearer(tokens)
        )
        assert accepted.status_code == 200, accepted.text
    event = await the_event(container, uid(tokens), "legal.accepted")
    assert event["data"]["documents"][0]["id"] == str(document.id)
    unknown = {"document_ids": [str(uuid.uuid4())]}
    refused = await client.post(
        "/api/legal/accept", json=unknown, headers=bearer(tokens)
    )
    assert refused.status_code == 400
    assert (await types_about(container, uid(tokens))).count("legal.accepted") == 1


async def test_each_kyc_status_change_is_told_and_the_decision_notified(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await create_user(client)
    await start_manual(client, tokens)
    refused = await client.post(
        f"/api/admin/kyc/{uid(tokens)}/decision",
        json={"decision": "reject"},  # no rejection_type: refused
        headers=bearer(admin),
    )
    assert refused.status_code in (400, 422)
    changes = [
        t for t in await types_about(container, uid(tokens)) if t.startswith("kyc.")
    ]
    assert len(changes) == 1
    approved = await decide(client, admin, tokens, "approve")
    assert approved.status_code == 200, approved.text
    kinds = await notification_kinds(container, uid(tokens))
    assert kinds == ["kyc_decision"]
    events = [
        e
        for e in await events_about(container, uid(tokens))
        if e["type"] == "kyc.status_changed"
    ]
    assert events[-1]["data"]["status"] == "verified"
    assert events[-1]["data"]["previous_status"] == events[0]["data"]["status"]


async def test_every_way_a_session_ends_is_told(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    out = await client.post("/api/auth/logout", headers=bearer(tokens))
    assert out.status_code == 204
    again = await login(client, wallet)
    await client.post("/api/auth/logout-all", headers=bearer(again))
    third = await login(client, wallet)
    first = await client.post(
        "/api/auth/refresh", json={"refresh_token": third["refresh_token"]}
    )
    assert first.status_code == 200
    clock.offset += timedelta(minutes=5)  # past the second tab's grace
    replayed = await client.post(
        "/api/auth/refresh", json={"refresh_token": third["refresh_token"]}
    )
    assert replayed.status_code == 401
    admin = await create_admin(client, container)
    await login(client, wallet)
    ended = await client.post(
        f"/api/admin/users/{uid(tokens)}/sessions/revoke", headers=bearer(admin)
    )
    assert ended.status_code == 200, ended.text
    reasons = [
        e["data"]["reason"]
        for e in await events_about(container, uid(tokens))
        if e["type"] == "session.revoked"
    ]
    assert reasons == ["logout", "logout_all", "token_reuse", "admin"]


async def test_a_link_and_an_unlink_are_told_and_a_refused_link_not_at_all(
    client: httpx.AsyncClient, container: Container
) -> None:
    taken, wallet = Wallet(), Wallet()
    await create_user(client, taken)
    tokens = await create_user(client)
    assert (await link_wallet(client, tokens, taken)).status_code == 409
    assert await types_about(container, uid(tokens)) == ["user.registered"]
    assert (await link_wallet(client, tokens, wallet)).status_code == 201
    unlinked = await client.delete(
        f"/api/users/me/wallets/{wallet.address}", headers=bearer(tokens)
    )
    assert unlinked.status_code == 204, unlinked.text
    told = await events_about(container, uid(tokens))
    assert [(e["type"], e["sequence"]) for e in told] == [
        ("user.registered", 1),
        ("wallet.linked", 2),
        ("wallet.unlinked", 3),
    ]
    for event in told[1:]:
        assert event["data"]["wallet_address"] == wallet.address


async def test_escrow_transactions_are_told_as_they_settle_external_ones_too(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit="10")
    user = uid(tokens)
    initialized = await the_event(container, user, "escrow.initialized")
    assert initialized["subject_type"] == "escrow_transaction"
    deposit = await the_event(container, user, "escrow.deposit_confirmed")
    assert deposit["data"]["amount"] == "10.000000"
    assert deposit["data"]["signature"]
    tokens = await login(client, wallet)
    await escrow_round_trip(
        client, container, tokens, wallet, "/api/escrow/withdraw", {"amount": "2.5"}
    )
    withdrawal = await the_event(container, user, "escrow.withdrawal_confirmed")
    assert withdrawal["data"]["amount"] == "2.500000"
    assert withdrawal["data"]["external"] is False

    await stranger_sends(container, wallet, 3 * USDC)
    await owner_takes_out(container, wallet, 1 * USDC)
    assert await follow(container, clock) == 2
    types = await types_about(container, user)
    assert types.count("escrow.deposit_confirmed") == 2
    assert types.count("escrow.withdrawal_confirmed") == 2

    # Two deposits of more than the wallet holds: the second fails on chain.
    tokens = await login(client, wallet)
    first = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "985"}
    )
    second = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "10"}
    )
    for body in (first, second):
        sent = await client.post(
            "/api/escrow/submit", json=body, headers=bearer(tokens)
        )
        assert sent.status_code == 202
    await container.escrow.follower.run_once()
    failed = await the_event(container, user, "escrow.transaction_failed")
    assert failed["subject_id"] == second["transaction_id"]
    assert failed["data"]["error"]


async def test_a_settlement_rolled_back_tells_nothing_until_it_commits(
    client: httpx.AsyncClient, container: Container
) -> None:
    wallet, tokens = await create_funded_escrow(client, container, deposit=None)
    body = await prepare_signed(
        client, tokens, wallet, "/api/escrow/deposit", {"amount": "3"}
    )
    await client.post("/api/escrow/submit", json=body, headers=bearer(tokens))

    async def hook(uow: UnitOfWork, transaction: EscrowTransaction) -> None:
        raise RuntimeError("subscriber bug")

    container.escrow.settlement_hooks.append(hook)
    try:
        await container.escrow.follower.run_once()
    finally:
        container.escrow.settlement_hooks.remove(hook)
    user = uid(tokens)
    assert "escrow.deposit_confirmed" not in await types_about(container, user)
    await container.escrow.follower.run_once()
    assert (await types_about(container, user)).count("escrow.deposit_confirmed") == 1
