"""The `sumsub` provider over real HTTP against the stand-in Sumsub, which
checks every request's signature as Sumsub does (tests/support/sumsub.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from pourtier.domain.errors import InvalidInput, NotFound, ServiceUnavailable
from pourtier.domain.kyc import RejectionType
from pourtier.domain.users import KycStatus
from pourtier.infrastructure.kyc.sumsub import (
    SumsubProvider,
    SumsubRefused,
    signature,
)
from tests.support.processes import free_port
from tests.support.sumsub import (
    APP_TOKEN,
    LEVEL_NAME,
    SECRET_KEY,
    WEBHOOK_SECRET,
    SumsubStandIn,
    running_sumsub,
)

MakeProvider = Callable[..., SumsubProvider]


@pytest.fixture(scope="module")
def sumsub() -> Iterator[SumsubStandIn]:
    with running_sumsub() as server:
        yield server


@pytest.fixture
async def make_provider(sumsub: SumsubStandIn) -> AsyncIterator[MakeProvider]:
    """Providers on the stand-in; each may change a setting, all are closed."""
    sumsub.down = False
    made: list[SumsubProvider] = []

    def make(**changes: object) -> SumsubProvider:
        settings: dict[str, object] = {
            "base_url": sumsub.url,
            "app_token": APP_TOKEN,
            "secret_key": SECRET_KEY,
            "level_name": LEVEL_NAME,
            "webhook_secret": WEBHOOK_SECRET,
        }
        settings.update(changes)
        made.append(SumsubProvider(**settings))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for provider in made:
        await provider.aclose()


@pytest.fixture
def provider(make_provider: MakeProvider) -> SumsubProvider:
    return make_provider()


async def started(provider: SumsubProvider) -> tuple[uuid.UUID, str]:
    user_id = uuid.uuid4()
    start = await provider.start(user_id)
    assert start.applicant_id is not None
    return user_id, start.applicant_id


# --- start ---------------------------------------------------------------------


async def test_start_creates_the_applicant_under_our_user_id(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id = uuid.uuid4()
    start = await provider.start(user_id)
    applicant = sumsub.applicant(str(user_id))
    assert start.status is KycStatus.PENDING
    assert start.applicant_id == applicant.id
    assert applicant.level_name == LEVEL_NAME
    assert start.sdk_token is not None
    assert sumsub.tokens[start.sdk_token] == str(user_id)


async def test_start_again_reuses_the_applicant(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id = uuid.uuid4()
    first = await provider.start(user_id)
    sumsub.calls.clear()
    again = await provider.start(user_id)
    assert again.applicant_id == first.applicant_id
    assert again.sdk_token not in (None, first.sdk_token)
    assert [a for a in sumsub.applicants if a == str(user_id)] == [str(user_id)]
    assert sumsub.calls == [
        f"POST /resources/applicants?levelName={LEVEL_NAME}",
        f"GET /resources/applicants/-;externalUserId={user_id}/one",
        "POST /resources/accessTokens/sdk",
    ]


async def test_start_adopts_an_applicant_made_elsewhere(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id = uuid.uuid4()
    made = sumsub.add_applicant(str(user_id))
    start = await provider.start(user_id)
    assert start.applicant_id == made.id


async def test_a_level_name_with_reserved_characters_is_signed_as_sent(
    make_provider: MakeProvider, sumsub: SumsubStandIn
) -> None:
    provider = make_provider(level_name="kyc level+1@eu")
    user_id, _ = await started(provider)
    assert sumsub.applicant(str(user_id)).level_name == "kyc level+1@eu"


# --- current -------------------------------------------------------------------


async def test_nothing_to_apply_before_documents_are_sent(
    provider: SumsubProvider,
) -> None:
    user_id, applicant_id = await started(provider)
    assert await provider.current(user_id, applicant_id) is None


@pytest.mark.parametrize(
    ("review_status", "status"),
    [
        ("pending", KycStatus.IN_REVIEW),
        ("queued", KycStatus.IN_REVIEW),
        ("onHold", KycStatus.IN_REVIEW),
        ("awaitingUser", KycStatus.PENDING),
        ("init", None),
    ],
)
async def test_a_review_in_progress_is_mapped(
    provider: SumsubProvider,
    sumsub: SumsubStandIn,
    review_status: str,
    status: KycStatus | None,
) -> None:
    user_id, applicant_id = await started(provider)
    sumsub.set_status(str(user_id), review_status)
    event = await provider.current(user_id, applicant_id)
    assert (event and event.status) == status
    if event is not None:
        assert (event.user_id, event.source) == (user_id, "provider:sumsub")
        assert event.rejection_type is None
        assert event.reason is None


async def test_a_green_review_is_verified_at_its_review_date(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id, applicant_id = await started(provider)
    at = datetime(2026, 11, 30, 9, 15, 2, tzinfo=UTC)
    sumsub.set_review(str(user_id), "GREEN", at=at)
    event = await provider.current(user_id, applicant_id)
    assert event is not None
    assert (event.status, event.occurred_at) == (KycStatus.VERIFIED, at)


async def test_red_reviews_are_rejections_of_their_type(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id, applicant_id = await started(provider)
    sumsub.set_review(
        str(user_id),
        "RED",
        "RETRY",
        moderation_comment="Please upload an original photo.",
        reject_labels=("SCREENSHOTS",),
        client_comment="operators only",
    )
    retry = await provider.current(user_id, applicant_id)
    assert retry is not None
    assert (retry.status, retry.rejection_type, retry.reason) == (
        KycStatus.REJECTED,
        RejectionType.RETRY,
        "Please upload an original photo.",
    )
    sumsub.set_review(
        str(user_id), "RED", "FINAL", reject_labels=("FORGERY", "SELFIE_MISMATCH")
    )
    final = await provider.current(user_id, applicant_id)
    assert final is not None
    assert (final.rejection_type, final.reason) == (
        RejectionType.FINAL,
        "FORGERY, SELFIE_MISMATCH",
    )
    assert final.event_id != retry.event_id


async def test_reading_one_decision_twice_is_one_event(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id, applicant_id = await started(provider)
    sumsub.set_review(str(user_id), "GREEN")
    first = await provider.current(user_id, applicant_id)
    again = await provider.current(user_id, applicant_id)
    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id
    assert str(first.event_id).startswith(f"status:{applicant_id}:completed:GREEN:")


async def test_an_unknown_applicant_is_not_found(provider: SumsubProvider) -> None:
    with pytest.raises(NotFound):
        await provider.current(uuid.uuid4(), "0123456789abcdef01234567")


async def test_an_applicant_id_that_would_change_the_path_is_refused(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    sumsub.calls.clear()
    with pytest.raises(InvalidInput):
        await provider.current(uuid.uuid4(), "../-;externalUserId=x")
    assert sumsub.calls == []


# --- the stand-in checks what Sumsub checks -------------------------------------


async def test_the_stand_in_refuses_a_badly_signed_request(
    sumsub: SumsubStandIn,
) -> None:
    path = "/resources/applicants/-;externalUserId=nobody/one"
    ts = str(int(time.time()))
    async with httpx.AsyncClient(base_url=sumsub.url) as client:
        for headers in (
            {},
            {"X-App-Token": APP_TOKEN, "X-App-Access-Ts": ts},
            {"X-App-Token": APP_TOKEN, "X-App-Access-Ts": ts, "X-App-Access-Sig": "0"},
        ):
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["code"] == 401
            assert answer.json()["description"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"secret_key": "not-the-secret"}, "signature mismatch"),
        ({"app_token": "sbx:someone-else"}, "App token"),
        ({"clock": lambda: time.time() - 600}, "timestamp"),
    ],
)
async def test_the_adapters_signing_is_what_makes_it_pass(
    make_provider: MakeProvider,
    sumsub: SumsubStandIn,
    change: dict[str, object],
    said: str,
) -> None:
    """Same calls, one ingredient of the signature wrong: refused, nothing made."""
    sumsub.refused.clear()
    user_id = uuid.uuid4()
    with pytest.raises(SumsubRefused, match="HTTP 401") as refused:
        await make_provider(**change).start(user_id)
    assert said in refused.value.detail
    assert str(user_id) not in sumsub.applicants
    assert sumsub.refused == [f"POST /resources/applicants?levelName={LEVEL_NAME}"]
    assert (await make_provider().start(user_id)).applicant_id is not None


async def test_a_body_changed_after_signing_is_refused(sumsub: SumsubStandIn) -> None:
    """The body is part of the signature: the stand-in checks the bytes it got."""
    async with httpx.AsyncClient(base_url=sumsub.url) as client:
        ts = str(int(time.time()))
        path = f"/resources/applicants?levelName={LEVEL_NAME}"
        signed = b'{"externalUserId":"a"}'
        headers = {
            "X-App-Token": APP_TOKEN,
            "X-App-Access-Ts": ts,
            "X-App-Access-Sig": signature(
                SECRET_KEY, ts, "POST", path.encode(), signed
            ),
            "Content-Type": "application/json",
        }
        answer = await client.post(
            path, content=b'{"externalUserId":"b"}', headers=headers
        )
        assert answer.status_code == 401
        answer = await client.post(path, content=signed, headers=headers)
        assert answer.status_code == 200


# --- failures ------------------------------------------------------------------


async def test_a_sumsub_that_is_down_is_unavailable(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    sumsub.down = True
    with pytest.raises(ServiceUnavailable, match="HTTP 503"):
        await provider.start(uuid.uuid4())
    with pytest.raises(ServiceUnavailable):
        await provider.current(uuid.uuid4(), "0123456789abcdef01234567")


async def test_an_unreachable_sumsub_is_unavailable(
    make_provider: MakeProvider,
) -> None:
    provider = make_provider(base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        await provider.start(uuid.uuid4())


# --- webhooks from the stand-in ------------------------------------------------


async def test_the_stand_ins_webhook_of_a_review_is_accepted(
    provider: SumsubProvider, sumsub: SumsubStandIn
) -> None:
    user_id, _ = await started(provider)
    sumsub.set_review(str(user_id), "RED", "FINAL", reject_labels=("FORGERY",))
    for algorithm in ("HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"):
        body, headers = sumsub.webhook_for(
            "applicantReviewed", str(user_id), algorithm=algorithm
        )
        event = provider.webhook(body, headers)
        assert event is not None
        assert (event.user_id, event.source) == (user_id, "provider:sumsub")
        assert (event.status, event.rejection_type) == (
            KycStatus.REJECTED,
            RejectionType.FINAL,
        )
