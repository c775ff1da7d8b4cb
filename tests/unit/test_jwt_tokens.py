"""Access tokens: every way a forged or stale JWT can be refused, one per test.

Each forgery starts from a token the codec would accept and changes one thing,
so a refusal can only be caused by the check under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from pourtier.domain.errors import AuthenticationFailed
from pourtier.infrastructure.auth.jwt_tokens import REQUIRED_CLAIMS, JwtAccessTokens
from tests.conftest import build_test_container, make_settings
from tests.helpers import TOKEN_WALLET, token_holder

KID = "primary"
SECRET = "unit-test-secret-" + "k" * 64
OTHER_SECRET = "another-secret-entirely-" + "z" * 64
ISSUER = "pourtier"
AUDIENCE = "pourtier-api"
WALLET = TOKEN_WALLET


LIFETIME = timedelta(minutes=30)


def codec(
    *,
    kid: str = KID,
    keys: dict[str, str] | None = None,
    algorithm: str = "HS256",
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
) -> JwtAccessTokens:
    return JwtAccessTokens(
        signing_key_id=kid,
        keys=keys if keys is not None else {KID: SECRET},
        algorithm=algorithm,
        issuer=issuer,
        audience=audience,
        expires_in=LIFETIME,
    )


def now() -> datetime:
    return datetime.now(UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def unb64url_json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    )
    return decoded


def valid_claims(**changes: Any) -> dict[str, Any]:
    issued = int(now().timestamp())
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "wallet": WALLET,
        "sid": str(uuid.uuid4()),
        "jti": "a1b2c3d4e5f6a1b2c3d4e5f6",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(changes)
    return claims


def sign(
    claims: dict[str, Any],
    *,
    key: str = SECRET,
    algorithm: str = "HS256",
    kid: str | None = KID,
) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def hmac_token(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
    """A JWT assembled by hand: any header, signed HMAC-SHA256 with `key`."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    digest = hmac.new(
        key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256
    ).digest()
    return f"{signing_input}.{b64url(digest)}"


def refused(tokens: JwtAccessTokens, token: str) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as caught:
        tokens.decode(token)
    assert caught.value.check == "token"
    return caught.value


# --- what a good token is ----------------------------------------------------------


def test_an_issued_token_round_trips_with_its_claims() -> None:
    tokens = codec()
    user_id, session_id, issued_at = uuid.uuid4(), uuid.uuid4(), now()
    token = tokens.issue(token_holder(user_id), session_id, issued_at)

    claims = tokens.decode(token)

    assert claims.user_id == user_id
    assert claims.wallet_address == WALLET
    assert claims.session_id == session_id
    assert claims.expires_at == datetime.fromtimestamp(
        int(issued_at.timestamp()) + 1800, UTC
    )
    assert tokens.expires_in_seconds == 1800


def test_an_issued_token_carries_every_required_claim_and_is_pinned() -> None:
    user_id, session_id, issued_at = uuid.uuid4(), uuid.uuid4(), now()
    token = codec().issue(token_holder(user_id), session_id, issued_at)

    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})

    assert header["alg"] == "HS256"
    assert header["kid"] == KID
    assert set(REQUIRED_CLAIMS) <= set(payload)
    assert set(REQUIRED_CLAIMS) == {
        "sub",
        "wallet",
        "sid",
        "jti",
        "iat",
        "exp",
        "iss",
        "aud",
    }
    assert payload["sub"] == str(user_id)
    assert payload["wallet"] == WALLET
    assert payload["sid"] == str(session_id)
    assert payload["iss"] == ISSUER
    assert payload["aud"] == AUDIENCE
    assert payload["iat"] == int(issued_at.timestamp())
    assert payload["exp"] - payload["iat"] == 1800


def test_every_token_gets_its_own_jti() -> None:
    tokens = codec()
    user_id, session_id, issued_at = uuid.uuid4(), uuid.uuid4(), now()
    jtis = {
        jwt.decode(
            tokens.issue(token_holder(user_id), session_id, issued_at),
            options={"verify_signature": False},
        )["jti"]
        for _ in range(20)
    }
    assert len(jtis) == 20
    assert all(len(jti) >= 16 for jti in jtis)


def test_a_hand_signed_token_with_valid_claims_is_accepted() -> None:
    """The forgeries below differ from this in one thing only."""
    claims = valid_claims()
    decoded = codec().decode(sign(claims))
    assert str(decoded.user_id) == claims["sub"]
    assert str(decoded.session_id) == claims["sid"]
    assert decoded.token_id == claims["jti"]
    assert codec().decode(hmac_token({"alg": "HS256", "kid": KID}, claims, SECRET))


# --- signature and algorithm --------------------------------------------------------


def test_alg_none_built_by_hand_is_refused() -> None:
    header = {"alg": "none", "typ": "JWT", "kid": KID}
    token = f"{b64url_json(header)}.{b64url_json(valid_claims())}."
    refused(codec(), token)


def test_alg_none_built_by_pyjwt_is_refused() -> None:
    token = jwt.encode(valid_claims(), "", algorithm="none", headers={"kid": KID})
    assert jwt.get_unverified_header(token)["alg"] == "none"
    refused(codec(), token)


def test_alg_none_with_the_real_signature_kept_is_refused() -> None:
    good = sign(valid_claims())
    _, payload, signature = good.split(".")
    header = b64url_json({"alg": "none", "typ": "JWT", "kid": KID})
    refused(codec(), f"{header}.{payload}.{signature}")


def test_a_token_signed_with_another_key_is_refused() -> None:
    error = refused(codec(), sign(valid_claims(), key=OTHER_SECRET))
    assert "invalid" in error.detail


def test_an_hs256_decoder_refuses_an_hs512_token_made_with_the_right_key() -> None:
    token = sign(valid_claims(), algorithm="HS512")
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    refused(codec(algorithm="HS256"), token)


def test_an_hs512_decoder_refuses_an_hs256_token_made_with_the_right_key() -> None:
    refused(codec(algorithm="HS512"), sign(valid_claims(), algorithm="HS256"))


@pytest.mark.parametrize("claimed", ["RS256", "ES256", "EdDSA", "PS256", "HS512"])
def test_a_header_claiming_another_algorithm_is_refused_despite_a_valid_hmac(
    claimed: str,
) -> None:
    """Algorithm confusion: the HMAC over the bytes is right, the label is not."""
    token = hmac_token(
        {"alg": claimed, "typ": "JWT", "kid": KID}, valid_claims(), SECRET
    )
    refused(codec(algorithm="HS256"), token)


def test_a_tampered_payload_with_the_original_signature_is_refused() -> None:
    tokens = codec()
    token = tokens.issue(token_holder(), uuid.uuid4(), now())
    header, payload, signature = token.split(".")
    claims = unb64url_json(payload)
    other_user = str(uuid.uuid4())
    claims["sub"] = other_user
    forged = f"{header}.{b64url_json(claims)}.{signature}"

    assert str(tokens.decode(token).user_id) != other_user
    refused(tokens, forged)


def test_a_truncated_signature_is_refused() -> None:
    token = sign(valid_claims())
    refused(codec(), token[:-4])


@pytest.mark.parametrize(
    "garbage", ["", "not-a-jwt", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9"]
)
def test_garbage_is_refused_not_crashed(garbage: str) -> None:
    refused(codec(), garbage)


# --- time, audience, issuer ----------------------------------------------------------


def test_an_expired_token_is_refused() -> None:
    tokens = codec()
    token = tokens.issue(token_holder(), uuid.uuid4(), now() - LIFETIME * 2)
    error = refused(tokens, token)
    assert "expired" in error.detail


def test_a_token_just_inside_its_lifetime_is_accepted() -> None:
    tokens = codec()
    issued = now() - LIFETIME + timedelta(seconds=30)
    assert tokens.decode(tokens.issue(token_holder(), uuid.uuid4(), issued))


def test_a_token_not_yet_valid_is_refused() -> None:
    later = int(now().timestamp()) + 3600
    claims = valid_claims(nbf=later, exp=later + 600)
    error = refused(codec(), sign(claims))
    assert "not yet valid" in error.detail


def test_a_token_issued_in_the_future_is_refused() -> None:
    tokens = codec()
    token = tokens.issue(token_holder(), uuid.uuid4(), now() + timedelta(hours=1))
    refused(tokens, token)


def test_a_token_for_another_audience_is_refused() -> None:
    refused(codec(), sign(valid_claims(aud="some-other-api")))
    refused(
        codec(),
        codec(audience="some-other-api").issue(token_holder(), uuid.uuid4(), now()),
    )


def test_a_token_from_another_issuer_is_refused() -> None:
    refused(codec(), sign(valid_claims(iss="someone-else")))
    refused(
        codec(),
        codec(issuer="someone-else").issue(token_holder(), uuid.uuid4(), now()),
    )


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    claims = valid_claims()
    del claims[claim]
    refused(codec(), sign(claims))


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", "not-a-uuid"), ("sid", "not-a-uuid"), ("sub", 42), ("sid", ["x"])],
)
def test_a_malformed_identifier_claim_is_refused_not_crashed(
    claim: str, value: Any
) -> None:
    refused(codec(), sign(valid_claims(**{claim: value})))


# --- key rotation ---------------------------------------------------------------------


def test_an_unknown_kid_is_refused() -> None:
    error = refused(codec(), sign(valid_claims(), kid="retired-long-ago"))
    assert "key" in error.detail


def test_a_token_without_kid_is_refused() -> None:
    refused(codec(), sign(valid_claims(), kid=None))


@pytest.mark.parametrize("kid", [7, None, ["primary"], {"k": "primary"}])
def test_a_kid_that_is_not_a_string_is_refused(kid: Any) -> None:
    token = hmac_token({"alg": "HS256", "kid": kid}, valid_claims(), SECRET)
    refused(codec(), token)


def test_rotation_old_tokens_still_verify_and_new_tokens_use_the_new_kid() -> None:
    old_secret, new_secret = SECRET, OTHER_SECRET
    before = codec(kid="2024", keys={"2024": old_secret})
    after = codec(kid="2025", keys={"2024": old_secret, "2025": new_secret})
    user_id, session_id = uuid.uuid4(), uuid.uuid4()

    old_token = before.issue(token_holder(user_id), session_id, now())
    new_token = after.issue(token_holder(user_id), session_id, now())

    assert after.decode(old_token).user_id == user_id
    assert after.decode(new_token).user_id == user_id
    assert jwt.get_unverified_header(old_token)["kid"] == "2024"
    assert jwt.get_unverified_header(new_token)["kid"] == "2025"
    jwt.decode(
        new_token, new_secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
    )
    refused(before, new_token)


def test_once_the_old_key_is_dropped_its_tokens_are_refused() -> None:
    old_token = codec(kid="2024", keys={"2024": SECRET}).issue(
        token_holder(), uuid.uuid4(), now()
    )
    refused(codec(kid="2025", keys={"2025": OTHER_SECRET}), old_token)


def test_the_kid_binds_the_key_a_token_naming_one_kid_signed_by_another_fails() -> None:
    rotated = codec(kid="2025", keys={"2024": SECRET, "2025": OTHER_SECRET})
    refused(rotated, sign(valid_claims(), key=SECRET, kid="2025"))
    refused(rotated, sign(valid_claims(), key=OTHER_SECRET, kid="2024"))
    assert rotated.decode(sign(valid_claims(), key=SECRET, kid="2024"))


def test_the_signing_kid_must_be_configured() -> None:
    with pytest.raises(ValueError, match="2026"):
        codec(kid="2026", keys={"2025": SECRET})


async def test_settings_configure_previous_keys_beside_the_signing_key(
    tmp_path: Path,
) -> None:
    old = codec(kid="2024", keys={"2024": SECRET})
    settings = make_settings(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        tmp_path,
        JWT_SECRET_KEY=OTHER_SECRET,
        JWT_KEY_ID="2025",
        JWT_PREVIOUS_KEYS={"2024": SECRET},
    )
    container = build_test_container(settings)
    try:
        tokens = container.auth.tokens
        user_id = uuid.uuid4()
        assert tokens.decode(old.issue(token_holder(user_id), uuid.uuid4(), now()))
        fresh = tokens.issue(token_holder(user_id), uuid.uuid4(), now())
        assert jwt.get_unverified_header(fresh)["kid"] == "2025"
        jwt.decode(
            fresh, OTHER_SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER
        )
    finally:
        await container.engine.dispose()
