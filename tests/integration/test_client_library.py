"""`pourtier.client.PourtierClient` against the app on the test database:
tokens refreshed by themselves, once, and refusals as one `ApiError`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pourtier.client import ApiError, MemoryTokenStore, PourtierClient, Wallet
from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI
from tests.helpers import TestClock


class Recorder(httpx.AsyncBaseTransport):
    """The app's transport, remembering each request and its status."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


@pytest.fixture
def recorder(container: Container) -> Recorder:
    app = create_app(container, manage_lifespan=False)
    return Recorder(httpx.ASGITransport(app=app, client=("203.0.113.9", 5555)))


@pytest.fixture
async def signed_up(recorder: Recorder) -> AsyncIterator[PourtierClient]:
    """A client of a new account, registered accepting every document."""
    async with PourtierClient(AUTH_URI, Wallet(), transport=recorder) as client:
        documents = await client.legal_documents()
        await client.register([d.id for d in documents])
        recorder.seen.clear()
        yield client


async def test_an_expired_access_token_is_refreshed_once_and_the_call_retried(
    signed_up: PourtierClient, recorder: Recorder, clock: TestClock
) -> None:
    before = signed_up.tokens
    assert before is not None
    clock.offset = timedelta(minutes=31)  # the service's clock: this one's is not

    me = await signed_up.me()

    assert signed_up.wallet is not None
    assert me.wallet_address == signed_up.wallet.address
    assert recorder.seen == [
        ("GET", "/api/users/me", 401),
        ("POST", "/api/auth/refresh", 200),
        ("GET", "/api/users/me", 200),
    ]
    after = signed_up.tokens
    assert after is not None
    assert after.refresh_token != before.refresh_token  # rotated and stored


async def test_a_token_known_to_be_expired_is_refreshed_before_the_call(
    signed_up: PourtierClient, recorder: Recorder
) -> None:
    tokens, wallet = signed_up.tokens, signed_up.wallet
    assert tokens is not None
    assert wallet is not None
    address = wallet.address
    past = datetime.now(UTC) - timedelta(seconds=1)
    signed_up.store.save(signed_up.url, address, replace(tokens, expires_at=past))

    await signed_up.compliance()

    assert [path for _, path, _ in recorder.seen] == [
        "/api/auth/refresh",
        "/api/legal/compliance",
    ]


async def test_an_ended_session_is_one_refusal_and_its_tokens_forgotten(
    signed_up: PourtierClient, recorder: Recorder, container: Container
) -> None:
    me = await signed_up.me()
    await container.auth.logout_all(me.id)
    recorder.seen.clear()

    with pytest.raises(ApiError) as refused:
        await signed_up.me()

    assert refused.value.status == 401
    assert refused.value.detail == "refresh_token check failed: the session has ended"
    assert [status for _, _, status in recorder.seen] == [401, 401]  # no loop
    assert signed_up.tokens is None
    with pytest.raises(ApiError) as again:  # not signed in: the service says so
        await signed_up.me()
    assert again.value.status == 401


async def test_refusals_carry_the_service_status_and_its_detail(
    signed_up: PourtierClient,
) -> None:
    with pytest.raises(ApiError) as too_precise:
        await signed_up.prepare_deposit("12.1234567")
    assert (too_precise.value.status, too_precise.value.detail) == (
        400,
        "amount has more than 6 decimals",
    )
    with pytest.raises(ApiError) as bad_kyc:
        await signed_up.kyc_start("Ada Lovelace", "not-a-date", "GB")
    assert bad_kyc.value.status == 422
    assert bad_kyc.value.detail.startswith("date_of_birth: ")
    with pytest.raises(TypeError):
        await signed_up.prepare_deposit(12.5)  # type: ignore[arg-type]


async def test_a_wallet_without_an_account_is_told_by_login(
    recorder: Recorder,
) -> None:
    async with PourtierClient(AUTH_URI, Wallet(), transport=recorder) as client:
        with pytest.raises(ApiError) as refused:
            await client.login()
    assert refused.value.status == 404
    assert isinstance(client.store, MemoryTokenStore)
    assert client.tokens is None


async def test_the_manual_identity_check_is_started_with_the_details(
    signed_up: PourtierClient,
) -> None:
    assert (await signed_up.kyc()).status == "not_started"
    started = await signed_up.kyc_start("Ada Lovelace", "1990-04-21", "GB")
    assert (started.status, started.provider) == ("in_review", "manual")
    assert (await signed_up.me()).kyc_status == "in_review"


async def test_a_linked_wallet_signs_in_to_the_same_account(
    signed_up: PourtierClient, recorder: Recorder
) -> None:
    other = Wallet()
    linked = await signed_up.link_wallet(other)
    assert (linked.wallet_address, linked.primary) == (other.address, False)
    assert signed_up.wallet is not None
    listed = await signed_up.wallets()
    assert [(w.wallet_address, w.primary) for w in listed] == [
        (signed_up.wallet.address, True),
        (other.address, False),
    ]
    me = await signed_up.me()
    async with PourtierClient(AUTH_URI, other, transport=recorder) as second:
        tokens = await second.login()
        assert tokens.user.id == me.id
        await signed_up.unlink_wallet(other.address)
        with pytest.raises(ApiError) as refused:
            await second.login()
        assert refused.value.status == 404
