"""Access tokens are verified once per process, then reused until they expire.

The signature, JSON and claims of a token are checked on first sight only; its
times are checked against the clock on every use.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pourtier.domain.errors import AuthenticationFailed
from pourtier.infrastructure.auth import jwt_tokens
from pourtier.infrastructure.auth.jwt_tokens import JwtAccessTokens
from tests.helpers import TOKEN_WALLET, token_holder

SECRET = "unit-test-secret-" + "k" * 64
WALLET = TOKEN_WALLET


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def codec(clock: Clock) -> JwtAccessTokens:
    return JwtAccessTokens(
        signing_key_id="primary",
        keys={"primary": SECRET},
        algorithm="HS256",
        issuer="pourtier",
        audience="pourtier-api",
        expires_in=timedelta(minutes=30),
        clock=clock,
    )


def test_a_token_is_verified_once_then_served_from_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    tokens = codec(clock)
    token = tokens.issue(token_holder(), uuid.uuid4(), clock.now)
    verified = []
    verify = tokens._verify

    def counting(text: str) -> object:
        verified.append(text)
        return verify(text)

    monkeypatch.setattr(tokens, "_verify", counting)
    first = tokens.decode(token)
    assert tokens.decode(token) is first
    assert verified == [token]


def test_a_remembered_token_is_still_refused_once_expired() -> None:
    clock = Clock()
    tokens = codec(clock)
    token = tokens.issue(token_holder(), uuid.uuid4(), clock.now)
    tokens.decode(token)
    clock.now += timedelta(minutes=30, seconds=1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        tokens.decode(token)
    assert token not in tokens._verified


def test_a_remembered_token_is_not_valid_before_its_time() -> None:
    clock = Clock()
    tokens = codec(clock)
    token = tokens.issue(token_holder(), uuid.uuid4(), clock.now)
    tokens.decode(token)
    clock.now -= timedelta(minutes=5)  # the service clock was moved back
    with pytest.raises(AuthenticationFailed, match="not yet valid"):
        tokens.decode(token)
    clock.now += timedelta(minutes=5)
    assert tokens.decode(token)


def test_a_token_differing_in_one_character_is_verified_afresh() -> None:
    clock = Clock()
    tokens = codec(clock)
    token = tokens.issue(token_holder(), uuid.uuid4(), clock.now)
    tokens.decode(token)
    head, payload, signature = token.split(".")
    forged = (
        f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    )
    with pytest.raises(AuthenticationFailed):
        tokens.decode(forged)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt_tokens, "VERIFIED_CACHE_SIZE", 3)
    clock = Clock()
    tokens = codec(clock)
    issued = [tokens.issue(token_holder(), uuid.uuid4(), clock.now) for _ in range(5)]
    for token in issued:
        tokens.decode(token)
    assert list(tokens._verified) == issued[2:]
