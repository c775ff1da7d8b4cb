"""The `sumsub` provider without the network: request signing against a known
vector, and webhooks: verified over the raw body, then mapped to our statuses.

Webhooks are built and signed by the stand-in's helper (tests/support/sumsub.py),
written apart from the adapter."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from pourtier.domain.errors import AuthenticationFailed, InvalidInput
from pourtier.domain.kyc import KycProvider, RejectionType
from pourtier.domain.users import KycStatus
from pourtier.infrastructure.kyc.sumsub import SumsubProvider, signature
from tests.support.sumsub import (
    WEBHOOK_ALGORITHMS,
    WEBHOOK_SECRET,
    signed_webhook,
    webhook_payload,
)

NOW = 1_780_000_000.0
USER = uuid.UUID("2f1c7a52-2b56-4c38-9a55-0f8f3c1d9e10")


@pytest.fixture
async def provider() -> AsyncIterator[SumsubProvider]:
    async with httpx.AsyncClient() as client:
        yield SumsubProvider(
            "http://127.0.0.1:9",
            "sbx:app-token",
            "secret-key",
            "basic-kyc-level",
            WEBHOOK_SECRET,
            client,
            clock=lambda: NOW,
        )


def reviewed(answer: str, **result: Any) -> dict[str, Any]:
    return webhook_payload(
        "applicantReviewed",
        str(USER),
        review_status="completed",
        review_result={"reviewAnswer": answer, **result},
    )


# --- signing -----------------------------------------------------------------


def test_signature_matches_the_documented_string() -> None:
    """ts + METHOD + path with query + body, HMAC-SHA256, lowercase hex; the
    literals were computed once with `openssl dgst -sha256 -hmac`."""
    body = b'{"userId":"johndoeID","levelName":"basic-kyc-level","ttlInSecs":600}'
    path = b"/resources/accessTokens/sdk"
    expected = hmac.new(
        b"my-secret-key", b"1607551635POST" + path + body, hashlib.sha256
    ).hexdigest()
    assert signature("my-secret-key", "1607551635", "POST", path, body) == expected
    assert expected == (
        "2c12621901cde5f93b278ae82f254d8639bc81b32b5d6848c04aa42f8955b007"
    )
    lookup = b"/resources/applicants/-;externalUserId=johndoeID/one"
    assert signature("my-secret-key", "1607551635", "get", lookup, b"") == (
        "1d7dbf1094bf62440e665d064b211d706d435f1b6e89b910979af792fa94612d"
    )


def test_it_is_a_kyc_provider_and_shows_no_keys(provider: SumsubProvider) -> None:
    port: KycProvider = provider
    assert port.name == "sumsub"
    shown = repr(provider)
    assert "secret-key" not in shown
    assert "app-token" not in shown
    assert WEBHOOK_SECRET not in shown


# --- webhook signature --------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(WEBHOOK_ALGORITHMS))
def test_each_digest_algorithm_is_accepted(
    provider: SumsubProvider, algorithm: str
) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET, algorithm)
    event = provider.webhook(body, headers)
    assert event is not None
    assert event.status is KycStatus.VERIFIED


def test_a_tampered_body_is_refused(provider: SumsubProvider) -> None:
    body, headers = signed_webhook(
        reviewed("RED", reviewRejectType="FINAL"), WEBHOOK_SECRET
    )
    tampered = body.replace(b'"RED"', b'"GREEN"')
    assert tampered != body
    with pytest.raises(AuthenticationFailed) as refused:
        provider.webhook(tampered, headers)
    assert refused.value.check == "webhook signature"


def test_a_reserialized_body_is_refused(provider: SumsubProvider) -> None:
    """The digest is over the raw bytes: the same JSON written otherwise fails."""
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    with pytest.raises(AuthenticationFailed):
        provider.webhook(compact, headers)


def test_a_wrong_secret_is_refused(provider: SumsubProvider) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), "not-the-webhook-secret")
    with pytest.raises(AuthenticationFailed):
        provider.webhook(body, headers)


@pytest.mark.parametrize("missing", ["x-payload-digest", "x-payload-digest-alg"])
def test_a_missing_header_is_refused(provider: SumsubProvider, missing: str) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    del headers[missing]
    with pytest.raises(AuthenticationFailed):
        provider.webhook(body, headers)


@pytest.mark.parametrize("algorithm", ["HMAC_MD5_HEX", "hmac_sha256_hex", "SHA256", ""])
def test_an_unknown_algorithm_is_refused(
    provider: SumsubProvider, algorithm: str
) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    headers["x-payload-digest-alg"] = algorithm
    with pytest.raises(AuthenticationFailed):
        provider.webhook(body, headers)


def test_the_signature_is_checked_before_the_body_is_read(
    provider: SumsubProvider,
) -> None:
    """An unsigned body that is not even JSON is an authentication failure."""
    with pytest.raises(AuthenticationFailed):
        provider.webhook(b"not json", {"x-payload-digest-alg": "HMAC_SHA256_HEX"})


def test_header_names_are_case_insensitive(provider: SumsubProvider) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    shouted = {
        "X-Payload-Digest": headers["x-payload-digest"].upper(),
        "X-PAYLOAD-DIGEST-ALG": headers["x-payload-digest-alg"],
    }
    assert provider.webhook(body, shouted) is not None


def test_a_replayed_webhook_is_the_same_event(provider: SumsubProvider) -> None:
    body, headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    first, again = provider.webhook(body, headers), provider.webhook(body, headers)
    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id == hashlib.sha256(body).hexdigest()
    other_body, other_headers = signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET)
    other = provider.webhook(other_body, other_headers)
    assert other is not None
    assert other.event_id != first.event_id


# --- webhook mapping ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("applicantCreated", KycStatus.PENDING),
        ("applicantPending", KycStatus.IN_REVIEW),
        ("applicantOnHold", KycStatus.IN_REVIEW),
        ("applicantReset", KycStatus.PENDING),
    ],
)
def test_status_types_are_mapped(
    provider: SumsubProvider, kind: str, status: KycStatus
) -> None:
    payload = webhook_payload(kind, str(USER), applicant_id="65bd228a2a99e9196014ccc5")
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert (event.user_id, event.status, event.source) == (
        USER,
        status,
        "provider:sumsub",
    )
    assert event.rejection_type is None
    assert event.reason is None


def test_reviewed_green_is_verified(provider: SumsubProvider) -> None:
    event = provider.webhook(*signed_webhook(reviewed("GREEN"), WEBHOOK_SECRET))
    assert event is not None
    assert (event.status, event.rejection_type, event.reason) == (
        KycStatus.VERIFIED,
        None,
        None,
    )


def test_reviewed_red_retry_is_a_retry_rejection_with_the_user_comment(
    provider: SumsubProvider,
) -> None:
    payload = reviewed(
        "RED",
        reviewRejectType="RETRY",
        rejectLabels=["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"],
        moderationComment="We do not accept screenshots.",
        clientComment="operators only",
    )
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert (event.status, event.rejection_type, event.reason) == (
        KycStatus.REJECTED,
        RejectionType.RETRY,
        "We do not accept screenshots.",
    )


def test_reviewed_red_final_without_comment_gives_the_labels(
    provider: SumsubProvider,
) -> None:
    payload = reviewed(
        "RED", reviewRejectType="FINAL", rejectLabels=["FORGERY", "BLACKLIST"]
    )
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert (event.status, event.rejection_type, event.reason) == (
        KycStatus.REJECTED,
        RejectionType.FINAL,
        "FORGERY, BLACKLIST",
    )


def test_a_red_answer_without_a_reject_type_lets_the_user_retry(
    provider: SumsubProvider,
) -> None:
    event = provider.webhook(*signed_webhook(reviewed("RED"), WEBHOOK_SECRET))
    assert event is not None
    assert event.rejection_type is RejectionType.RETRY


@pytest.mark.parametrize(
    "payload",
    [
        webhook_payload("applicantPersonalInfoChanged", str(USER)),
        webhook_payload("applicantActionReviewed", str(USER)),
        webhook_payload("applicantDeleted", "not a uuid: ignored before it is read"),
        {"type": "applicantReviewed", "externalUserId": str(USER)},
        {"no": "type"},
    ],
)
def test_other_events_change_nothing(
    provider: SumsubProvider, payload: dict[str, Any]
) -> None:
    assert provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET)) is None


@pytest.mark.parametrize("external", ["12672", "0x" + "ab" * 16, "", None])
def test_an_external_id_that_is_not_our_user_id_is_refused(
    provider: SumsubProvider, external: str | None
) -> None:
    payload = webhook_payload("applicantPending", "placeholder")
    payload["externalUserId"] = external
    with pytest.raises(InvalidInput):
        provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_json_object_is_refused(
    provider: SumsubProvider, body: bytes
) -> None:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-payload-digest": digest, "x-payload-digest-alg": "HMAC_SHA256_HEX"}
    with pytest.raises(InvalidInput):
        provider.webhook(body, headers)


# --- webhook time -------------------------------------------------------------


def test_the_event_time_is_created_at_ms_in_utc(provider: SumsubProvider) -> None:
    payload = webhook_payload("applicantPending", str(USER))
    payload["createdAtMs"] = "2020-02-21 13:23:19.321"
    payload["createdAt"] = "2020-02-21 13:23:19+0000"
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert event.occurred_at == datetime(2020, 2, 21, 13, 23, 19, 321000, UTC)


def test_created_at_then_now_stand_in_for_created_at_ms(
    provider: SumsubProvider,
) -> None:
    payload = webhook_payload("applicantPending", str(USER))
    del payload["createdAtMs"]
    payload["createdAt"] = "2023-03-14 12:50:27+0000"
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert event.occurred_at == datetime(2023, 3, 14, 12, 50, 27, tzinfo=UTC)
    del payload["createdAt"]
    event = provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
    assert event is not None
    assert event.occurred_at == datetime.fromtimestamp(NOW, UTC)


def test_an_unreadable_event_time_is_refused(provider: SumsubProvider) -> None:
    payload = webhook_payload("applicantPending", str(USER))
    payload["createdAtMs"] = "yesterday"
    with pytest.raises(InvalidInput):
        provider.webhook(*signed_webhook(payload, WEBHOOK_SECRET))
