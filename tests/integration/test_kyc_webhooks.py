"""KYC_PROVIDER=sumsub end to end: the service on the stand-in Sumsub
(tests/support/sumsub.py), its webhooks POSTed to /api/kyc/webhooks/sumsub
over HTTP, and the reconciliation job for webhooks that never came. The
adapter's own parsing and signing are tested in test_kyc_sumsub.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.di.container import Container
from tests.conftest import Serve
from tests.event_helpers import events_about, notification_kinds
from tests.helpers import TestClock, create_user
from tests.kyc_helpers import app_client, kyc_events, kyc_of, me, start, user_id
from tests.support.sumsub import (
    APP_TOKEN,
    SECRET_KEY,
    WEBHOOK_ALGORITHMS,
    WEBHOOK_SECRET,
    SumsubStandIn,
    running_sumsub,
    signed_webhook,
    webhook_payload,
)

WEBHOOK = "/api/kyc/webhooks/sumsub"
RECONCILE_AFTER_MINUTES = 5
Webhook = tuple[bytes, dict[str, str]]


@pytest.fixture(scope="module")
def sumsub() -> Iterator[SumsubStandIn]:
    with running_sumsub() as server:
        yield server


@pytest.fixture
async def served(serve: Serve, sumsub: SumsubStandIn) -> AsyncIterator[Container]:
    async with serve(
        KYC_PROVIDER="sumsub",
        SUMSUB_BASE_URL=sumsub.url,
        SUMSUB_APP_TOKEN=APP_TOKEN,
        SUMSUB_SECRET_KEY=SECRET_KEY,
        KYC_WEBHOOK_SECRET=WEBHOOK_SECRET,
        KYC_RECONCILE_AFTER_MINUTES=RECONCILE_AFTER_MINUTES,
    ) as built:
        yield built


@pytest.fixture
async def other(served: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(served) as client:
        yield client


async def started(other: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    """A user whose applicant exists: their tokens and external user id."""
    tokens = await create_user(other)
    response = await start(other, tokens)
    assert response.status_code == 200, response.text
    return tokens, str(user_id(tokens))


def soon() -> datetime:
    """A provider time surely after the case's last status (whole seconds
    and milliseconds in Sumsub's formats would otherwise round it before)."""
    return datetime.now(UTC) + timedelta(seconds=1)


async def post(other: httpx.AsyncClient, webhook: Webhook) -> httpx.Response:
    body, headers = webhook
    return await other.post(WEBHOOK, content=body, headers=headers)


async def test_start_creates_the_applicant_and_gives_an_sdk_token(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn
) -> None:
    tokens = await create_user(other)
    response = await start(other, tokens)
    assert response.status_code == 200, response.text
    body = response.json()
    applicant = sumsub.applicant(str(user_id(tokens)))  # our user id, not the wallet
    assert body == {
        "status": "pending",
        "provider": "sumsub",
        "applicant_id": applicant.id,
        "sdk_token": body["sdk_token"],
    }
    assert sumsub.tokens[body["sdk_token"]] == str(user_id(tokens))
    view = await kyc_of(other, tokens)
    assert (view["status"], view["provider"]) == ("pending", "sumsub")
    assert (await me(other, tokens))["kyc_status"] == "pending"
    again = (await start(other, tokens)).json()  # the SDK token expired
    assert again["applicant_id"] == applicant.id
    assert again["sdk_token"] != body["sdk_token"]
    assert [e.status for e in await kyc_events(served, user_id(tokens))] == ["pending"]


@pytest.mark.parametrize("algorithm", list(WEBHOOK_ALGORITHMS))
async def test_each_digest_algorithm_is_accepted_and_applied(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn, algorithm: str
) -> None:
    tokens, external = await started(other)
    sumsub.set_review(external, "GREEN", at=soon())
    webhook = sumsub.webhook_for("applicantReviewed", external, algorithm=algorithm)
    response = await post(other, webhook)
    assert response.status_code == 204, response.text
    assert (await kyc_of(other, tokens))["status"] == "verified"
    assert (await me(other, tokens))["kyc_status"] == "verified"
    events = await kyc_events(served, user_id(tokens))
    assert [(e.status, e.source) for e in events] == [
        ("pending", "user"),
        ("verified", "provider:sumsub"),
    ]
    assert events[1].event_id


def tampered(webhook: Webhook) -> Webhook:
    body, headers = webhook
    return body.replace(b'"RED"', b'"GREEN"'), headers


def wrong_secret(payload: dict[str, Any]) -> Webhook:
    return signed_webhook(payload, WEBHOOK_SECRET + "x")


def without(header: str) -> Callable[[Webhook], Webhook]:
    def drop(webhook: Webhook) -> Webhook:
        body, headers = webhook
        return body, {k: v for k, v in headers.items() if k != header}

    return drop


def claiming(algorithm: str) -> Callable[[Webhook], Webhook]:
    def relabel(webhook: Webhook) -> Webhook:
        body, headers = webhook
        return body, headers | {"x-payload-digest-alg": algorithm}

    return relabel


FORGERIES: dict[str, Callable[[Webhook], Webhook]] = {
    "tampered body": tampered,
    "no digest": without("x-payload-digest"),
    "no algorithm": without("x-payload-digest-alg"),
    "another algorithm claimed": claiming("HMAC_SHA512_HEX"),
    "unknown algorithm": claiming("HMAC_MD5_HEX"),
}


@pytest.mark.parametrize("forgery", [*FORGERIES, "wrong secret"])
async def test_a_forged_webhook_is_401_and_changes_nothing(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn, forgery: str
) -> None:
    tokens, external = await started(other)
    sumsub.set_review(external, "RED", reject_type="FINAL", at=soon())
    if forgery == "wrong secret":
        green = webhook_payload(
            "applicantReviewed",
            external,
            sumsub.applicant(external).id,
            "completed",
            {"reviewAnswer": "GREEN"},
            soon(),
        )
        webhook = wrong_secret(green)
    else:
        webhook = FORGERIES[forgery](sumsub.webhook_for("applicantReviewed", external))
    before = await kyc_of(other, tokens)
    response = await post(other, webhook)
    assert response.status_code == 401, response.text
    assert await kyc_of(other, tokens) == before
    assert len(await kyc_events(served, user_id(tokens))) == 1


async def test_a_replayed_webhook_is_applied_once(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn
) -> None:
    tokens, external = await started(other)
    sumsub.set_review(external, "RED", reject_type="RETRY", at=soon())
    webhook = sumsub.webhook_for("applicantReviewed", external)
    for _ in range(3):
        assert (await post(other, webhook)).status_code == 204
    events = await kyc_events(served, user_id(tokens))
    assert [e.status for e in events] == ["pending", "rejected"]
    assert (await kyc_of(other, tokens))["status"] == "rejected"


async def test_an_older_event_after_a_newer_one_changes_nothing(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn
) -> None:
    tokens, external = await started(other)
    applicant = sumsub.applicant(external).id
    at = soon()
    pending = webhook_payload(
        "applicantPending", external, applicant, "pending", created_at=at
    )
    green = webhook_payload(
        "applicantReviewed",
        external,
        applicant,
        "completed",
        {"reviewAnswer": "GREEN"},
        at + timedelta(seconds=5),
    )
    assert (await post(other, signed_webhook(green, WEBHOOK_SECRET))).status_code == 204
    verified = await kyc_of(other, tokens)
    late = await post(other, signed_webhook(pending, WEBHOOK_SECRET, "HMAC_SHA1_HEX"))
    assert late.status_code == 204
    assert await kyc_of(other, tokens) == verified
    assert verified["status"] == "verified"
    # Kept in the log as it came, but it moved nothing.
    events = await kyc_events(served, user_id(tokens))
    assert [e.status for e in events] == ["pending", "verified", "in_review"]


async def test_a_retry_rejection_lets_the_user_start_again(
    other: httpx.AsyncClient, sumsub: SumsubStandIn
) -> None:
    """Even at once, with the provider's clock a few seconds ahead of ours:
    the user's start comes after the rejection it answers."""
    tokens, external = await started(other)
    comment = "Please upload a sharper photo of your document."
    ahead = datetime.now(UTC) + timedelta(seconds=5)
    sumsub.set_review(
        external, "RED", reject_type="RETRY", moderation_comment=comment, at=ahead
    )
    assert (
        await post(other, sumsub.webhook_for("applicantReviewed", external))
    ).status_code == 204
    view = await kyc_of(other, tokens)
    assert view["status"] == "rejected"
    assert view["rejection"] == {"type": "retry", "reason": comment}
    again = await start(other, tokens)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending"
    assert again.json()["applicant_id"] == sumsub.applicant(external).id
    assert (await kyc_of(other, tokens))["status"] == "pending"


async def test_a_final_rejection_cannot_be_started_again(
    other: httpx.AsyncClient, sumsub: SumsubStandIn
) -> None:
    tokens, external = await started(other)
    sumsub.set_review(external, "RED", reject_type="FINAL", at=soon())
    webhook = sumsub.webhook_for(
        "applicantReviewed", external, algorithm="HMAC_SHA512_HEX"
    )
    assert (await post(other, webhook)).status_code == 204
    assert (await kyc_of(other, tokens))["rejection"]["type"] == "final"
    assert (await start(other, tokens)).status_code == 409


async def test_a_webhook_about_an_unknown_user_changes_nothing(
    other: httpx.AsyncClient, served: Container
) -> None:
    stranger = "0f6c1a52-8a4e-4a51-9d2e-4a7c3c1d2e3f"
    payload = webhook_payload("applicantReviewed", stranger, review_status="completed")
    payload["reviewResult"] = {"reviewAnswer": "GREEN"}
    response = await post(other, signed_webhook(payload, WEBHOOK_SECRET))
    assert response.status_code == 204
    async with served.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM kyc_events"))
    assert count == 0


async def test_reconciliation_applies_a_decision_without_a_webhook(
    other: httpx.AsyncClient,
    served: Container,
    sumsub: SumsubStandIn,
    clock: TestClock,
) -> None:
    tokens, external = await started(other)
    waiting, _ = await started(other)  # nothing submitted yet: stays pending
    sumsub.set_review(external, "GREEN", at=soon())
    assert await served.kyc.reconcile_once() == 0  # not due yet
    assert (await kyc_of(other, tokens))["status"] == "pending"
    clock.offset += timedelta(minutes=RECONCILE_AFTER_MINUTES, seconds=1)
    assert await served.kyc.reconcile_once() == 1
    assert await served.kyc.reconcile_once() == 0  # asked already: not due again
    clock.offset = timedelta(0)
    assert (await kyc_of(other, tokens))["status"] == "verified"
    assert (await me(other, tokens))["kyc_status"] == "verified"
    assert (await kyc_of(other, waiting))["status"] == "pending"
    events = await kyc_events(served, user_id(tokens))
    assert [(e.status, e.source) for e in events] == [
        ("pending", "user"),
        ("verified", "provider:sumsub"),
    ]


async def test_the_manual_provider_takes_no_webhooks(
    client: httpx.AsyncClient, container: Container
) -> None:
    tokens = await create_user(client)
    payload = webhook_payload(
        "applicantReviewed", str(user_id(tokens)), review_status="completed"
    )
    payload["reviewResult"] = {"reviewAnswer": "GREEN"}
    response = await post(client, signed_webhook(payload, WEBHOOK_SECRET))
    assert response.status_code == 404, response.text
    assert (await kyc_of(client, tokens))["status"] == "not_started"
    assert await kyc_events(container, user_id(tokens)) == []


async def test_a_provider_refusing_our_keys_is_a_502_and_changes_nothing(
    serve: Serve, sumsub: SumsubStandIn
) -> None:
    async with (
        serve(
            KYC_PROVIDER="sumsub",
            SUMSUB_BASE_URL=sumsub.url,
            SUMSUB_APP_TOKEN=APP_TOKEN,
            SUMSUB_SECRET_KEY="not-the-secret-key",
            KYC_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ) as misconfigured,
        app_client(misconfigured) as client,
    ):
        tokens = await create_user(client)
        refused = await start(client, tokens)
        assert refused.status_code == 502, refused.text
        assert "detail" in refused.json()
        assert (await kyc_of(client, tokens))["status"] == "not_started"


async def test_a_providers_decision_is_told_once_however_often_it_comes(
    other: httpx.AsyncClient, served: Container, sumsub: SumsubStandIn
) -> None:
    _, external = await started(other)
    sumsub.set_review(external, "RED", reject_type="RETRY", at=soon())
    webhook = sumsub.webhook_for("applicantReviewed", external)
    for _ in range(3):
        assert (await post(other, webhook)).status_code == 204
    changes = [
        (e["data"]["previous_status"], e["data"]["status"])
        for e in await events_about(served, external)
        if e["type"] == "kyc.status_changed"
    ]
    assert changes == [("not_started", "pending"), ("pending", "rejected")]
    assert await notification_kinds(served, external) == ["kyc_decision"]
