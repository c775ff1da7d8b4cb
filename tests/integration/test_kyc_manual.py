"""The manual KYC provider end to end over HTTP: the user submits their
details, operators review and decide in the admin API, and every change is
seen at once by the user (GET /api/kyc, /api/users/me through its cache)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.di.container import Container
from tests.admin_helpers import audit_entries, create_admin
from tests.helpers import TestClock, bearer, create_user
from tests.kyc_helpers import (
    DATE_OF_BIRTH,
    LEGAL_NAME,
    PERSON,
    approve,
    decide,
    kyc_events,
    kyc_of,
    me,
    start,
    start_manual,
    user_id,
)


async def in_review(client: httpx.AsyncClient) -> dict[str, Any]:
    """A new user whose details are submitted."""
    tokens = await create_user(client)
    assert (await start_manual(client, tokens))["status"] == "in_review"
    return tokens


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


async def test_a_new_user_has_not_started(client: httpx.AsyncClient) -> None:
    tokens = await create_user(client)
    assert await kyc_of(client, tokens) == {
        "status": "not_started",
        "provider": "manual",
        "rejection": None,
        "updated_at": None,
    }
    assert (await me(client, tokens))["kyc_status"] == "not_started"


@pytest.mark.parametrize("body", [None, {}])
async def test_start_without_the_fields_names_each(
    client: httpx.AsyncClient, body: dict[str, str] | None
) -> None:
    tokens = await create_user(client)
    assert locs(await start(client, tokens, body)) == [
        ["body", "legal_name"],
        ["body", "date_of_birth"],
        ["body", "country"],
    ]
    assert (await kyc_of(client, tokens))["status"] == "not_started"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("legal_name", "   "),
        ("legal_name", "x" * 201),
        ("date_of_birth", "1990-4-21"),
        ("date_of_birth", "1990-W16-6"),
        ("date_of_birth", "2020-01-01"),  # a child's
        ("country", "XX"),
        ("country", "UK"),
        ("country", "FRA"),
    ],
)
async def test_a_bad_field_is_named(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    tokens = await create_user(client)
    assert locs(await start(client, tokens, PERSON | {field: value})) == [
        ["body", field]
    ]
    assert (await kyc_of(client, tokens))["status"] == "not_started"


async def test_submitting_puts_the_user_in_review_at_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    assert (await me(client, tokens))["kyc_status"] == "not_started"  # cached
    started = await start_manual(client, tokens, country="fr")
    assert started == {
        "status": "in_review",
        "provider": "manual",
        "applicant_id": None,
        "sdk_token": None,
    }
    assert (await me(client, tokens))["kyc_status"] == "in_review"
    view = await kyc_of(client, tokens)
    assert (view["status"], view["rejection"]) == ("in_review", None)
    assert view["updated_at"] is not None
    [event] = await kyc_events(container, user_id(tokens))
    assert (event.status, event.source, event.event_id) == ("in_review", "user", None)
    again = await start(client, tokens, PERSON)
    assert again.status_code == 409, again.text
    assert len(await kyc_events(container, user_id(tokens))) == 1


async def test_personal_details_are_encrypted_at_rest(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await in_review(client)
    async with container.engine.connect() as connection:
        sealed, row = (
            await connection.execute(
                text(
                    "SELECT personal_data, k::text FROM kyc_cases k WHERE user_id = :u"
                ),
                {"u": user_id(tokens)},
            )
        ).one()
        events = await connection.scalar(
            text("SELECT string_agg(e::text, ' ') FROM kyc_events e")
        )
    assert sealed
    for secret in (LEGAL_NAME, DATE_OF_BIRTH, "Quillfeather"):
        assert secret.encode() not in bytes(sealed)
        assert secret not in row
        assert secret not in events


async def test_the_queue_is_oldest_first_and_the_record_is_decrypted(
    client: httpx.AsyncClient, container: Container, clock: TestClock
) -> None:
    admin = await create_admin(client, container)
    first, second = await create_user(client), await create_user(client)
    await start_manual(client, second)  # registered last, submitted first
    clock.offset += timedelta(minutes=1)
    await start_manual(client, first, legal_name="  Other   Person ")
    queue = await client.get("/api/admin/kyc", headers=bearer(admin))
    assert queue.status_code == 200, queue.text
    assert [case["user_id"] for case in queue.json()] == [
        str(user_id(second)),
        str(user_id(first)),
    ]
    assert all(case["status"] == "in_review" for case in queue.json())
    assert "legal_name" not in queue.text
    assert LEGAL_NAME not in queue.text
    verified = await client.get(
        "/api/admin/kyc", params={"status": "verified"}, headers=bearer(admin)
    )
    assert verified.json() == []

    record = await client.get(
        f"/api/admin/kyc/{user_id(second)}", headers=bearer(admin)
    )
    assert record.status_code == 200, record.text
    body = record.json()
    assert body["details"] == PERSON
    assert body["case"]["status"] == "in_review"
    assert [(e["status"], e["source"]) for e in body["events"]] == [
        ("in_review", "user")
    ]
    other = await client.get(f"/api/admin/kyc/{user_id(first)}", headers=bearer(admin))
    assert other.json()["details"]["legal_name"] == "Other Person"
    nobody = await client.get(f"/api/admin/kyc/{user_id(admin)}", headers=bearer(admin))
    assert nobody.json() == {"case": None, "details": None, "events": []}
    # The user's whole record carries the same KYC, decrypted.
    whole = await client.get(
        f"/api/admin/users/{user_id(second)}", headers=bearer(admin)
    )
    assert whole.status_code == 200, whole.text
    assert whole.json()["kyc"] == body


async def test_approval_verifies_and_is_audited_without_personal_details(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await in_review(client)
    assert (await me(client, tokens))["kyc_status"] == "in_review"  # cached
    decided = await approve(client, admin, tokens)
    assert (decided["status"], decided["rejection"]) == ("verified", None)
    assert (await me(client, tokens))["kyc_status"] == "verified"
    assert (await kyc_of(client, tokens))["status"] == "verified"
    [entry] = await audit_entries(client, admin, action="kyc.decision")
    assert entry["actor_id"] == str(user_id(admin))
    assert (entry["target_type"], entry["target_id"]) == ("user", str(user_id(tokens)))
    assert entry["before"] == {
        "status": "in_review",
        "rejection_type": None,
        "reason": None,
    }
    assert entry["after"] == {
        "status": "verified",
        "rejection_type": None,
        "reason": None,
    }
    shown = str(entry)
    assert LEGAL_NAME not in shown
    assert DATE_OF_BIRTH not in shown
    sources = [e.source for e in await kyc_events(container, user_id(tokens))]
    assert sources[0] == "user"
    assert sources[1].startswith("operator:")
    assert (await start(client, tokens, PERSON)).status_code == 409


async def test_a_retry_rejection_lets_the_user_submit_again(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await in_review(client)
    rejected = await decide(client, admin, tokens, "reject", "retry", "blurry scan")
    assert rejected.status_code == 200, rejected.text
    view = await kyc_of(client, tokens)
    assert view["status"] == "rejected"
    assert view["rejection"] == {"type": "retry", "reason": "blurry scan"}
    assert (await me(client, tokens))["kyc_status"] == "rejected"
    assert (await start_manual(client, tokens))["status"] == "in_review"
    view = await kyc_of(client, tokens)
    assert (view["status"], view["rejection"]) == ("in_review", None)
    statuses = [e.status for e in await kyc_events(container, user_id(tokens))]
    assert statuses == ["in_review", "rejected", "in_review"]


async def test_a_final_rejection_cannot_be_retried(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await in_review(client)
    rejected = await decide(client, admin, tokens, "reject", "final", "forged")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejection"] == {"type": "final", "reason": "forged"}
    again = await start(client, tokens, PERSON)
    assert again.status_code == 409, again.text
    assert (await kyc_of(client, tokens))["rejection"]["type"] == "final"
    # Not awaiting a decision: an operator cannot reopen it either.
    assert (await decide(client, admin, tokens, "approve")).status_code == 409


async def test_a_rejection_needs_its_type(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await in_review(client)
    for rejection_type in (None, "maybe"):
        refused = await decide(client, admin, tokens, "reject", rejection_type)
        assert 400 <= refused.status_code < 500, refused.text
        assert refused.status_code != 404
    assert (await decide(client, admin, tokens, "perhaps")).status_code == 422
    assert (await kyc_of(client, tokens))["status"] == "in_review"
    assert len(await kyc_events(container, user_id(tokens))) == 1
    assert await audit_entries(client, admin, action="kyc.decision") == []


async def test_deciding_without_a_case_is_not_found(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await create_user(client)
    assert (await decide(client, admin, tokens, "approve")).status_code == 404


async def test_an_operator_may_revise_an_approval(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await create_admin(client, container)
    tokens = await in_review(client)
    await approve(client, admin, tokens)
    revised = await decide(client, admin, tokens, "reject", "final", "fraud")
    assert revised.status_code == 200, revised.text
    assert (await me(client, tokens))["kyc_status"] == "rejected"
    assert (await kyc_of(client, tokens))["rejection"] == {
        "type": "final",
        "reason": "fraud",
    }
    entries = await audit_entries(client, admin, action="kyc.decision")
    assert sorted((e["before"]["status"], e["after"]["status"]) for e in entries) == [
        ("in_review", "verified"),
        ("verified", "rejected"),
    ]
    assert (await start(client, tokens, PERSON)).status_code == 409


async def test_a_plain_user_cannot_use_the_admin_kyc_routes(
    client: httpx.AsyncClient,
) -> None:
    tokens = await in_review(client)
    target = user_id(tokens)
    for method, path in [
        ("GET", "/api/admin/kyc"),
        ("GET", f"/api/admin/kyc/{target}"),
        ("POST", f"/api/admin/kyc/{target}/decision"),
    ]:
        response = await client.request(
            method, path, json={"decision": "approve"}, headers=bearer(tokens)
        )
        assert response.status_code == 403, (path, response.text)
        assert LEGAL_NAME not in response.text
    assert (await kyc_of(client, tokens))["status"] == "in_review"


async def test_two_submissions_at_once_make_one_case(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    answers = await asyncio.gather(*(start(client, tokens, PERSON) for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 409, 409]
    assert [e.status for e in await kyc_events(container, user_id(tokens))] == [
        "in_review"
    ]
