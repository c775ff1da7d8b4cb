"""Access tokens: short-lived JWTs, algorithm pinned, keys rotated by `kid`."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from pourtier.domain.auth import AccessClaims
from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.sign_in import CLOCK_SKEW
from pourtier.domain.users import User

REQUIRED_CLAIMS = ["sub", "wallet", "sid", "jti", "iat", "exp", "iss", "aud"]
VERIFIED_CACHE_SIZE = 4096
"""Tokens whose signature and claims were already checked, kept by this process.

A client sends the same access token with every request for its lifetime, so
the signature, JSON and claims are checked once and the result is reused; the
times are still checked against the clock on every use, and whether the
session is still live is not this class's business (the caller asks the
session store each time, so a logged-out token is refused at once).
"""

Times = tuple[float, float, float]
"""(exp, iat, nbf) as numbers."""


class JwtAccessTokens:
    """Signs with one key; verifies with any configured key named by `kid`."""

    def __init__(
        self,
        *,
        signing_key_id: str,
        keys: dict[str, str],
        algorithm: str,
        issuer: str,
        audience: str,
        expires_in: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if signing_key_id not in keys:
            raise ValueError(f"no key configured for signing kid {signing_key_id!r}")
        self._kid = signing_key_id
        self._keys = keys
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self.expires_in_seconds = int(expires_in.total_seconds())
        self._clock = clock
        self._verified: dict[str, tuple[AccessClaims, Times]] = {}

    def issue(self, user: User, session_id: uuid.UUID, now: datetime) -> str:
        issued = int(now.timestamp())
        claims = {
            "sub": str(user.id),
            "wallet": user.wallet_address,
            "sid": str(session_id),
            "jti": secrets.token_hex(12),
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.expires_in_seconds,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(
            claims,
            self._keys[self._kid],
            algorithm=self._algorithm,
            headers={"kid": self._kid},
        )

    @staticmethod
    def _times(claims: dict[str, Any]) -> Times:
        times = (claims["exp"], claims["iat"], claims.get("nbf", claims["iat"]))
        if not all(type(t) in (int, float) for t in times):
            raise AuthenticationFailed("token", "access token times are malformed")
        return times

    def _check_times(self, times: Times) -> None:
        """Against the service clock, so every part of the app agrees on 'now'."""
        now = self._clock().timestamp()
        expires, issued, not_before = times
        if expires <= now:
            raise AuthenticationFailed("token", "access token has expired")
        if max(issued, not_before) > now + CLOCK_SKEW.total_seconds():
            raise AuthenticationFailed("token", "access token is not yet valid")

    def decode(self, token: str) -> AccessClaims:
        verified = self._verified.get(token)
        if verified is not None:
            claims, times = verified
            try:
                self._check_times(times)
            except AuthenticationFailed:
                if times[0] <= self._clock().timestamp():
                    del self._verified[token]  # expired for good
                raise
            return claims
        claims, times = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            # The oldest goes first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, times)
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, Times]:
        """Signature, algorithm, key, issuer, audience and claim shapes."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationFailed("token", "access token is malformed") from None
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthenticationFailed("token", "access token key is unknown")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise AuthenticationFailed(
                "token", "access token audience is wrong"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationFailed(
                "token", "access token issuer is wrong"
            ) from None
        except jwt.PyJWTError:
            raise AuthenticationFailed("token", "access token is invalid") from None
        times = self._times(claims)
        self._check_times(times)
        try:
            access = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                wallet_address=str(claims["wallet"]),
                session_id=uuid.UUID(claims["sid"]),
                token_id=str(claims["jti"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (ValueError, TypeError, AttributeError):
            raise AuthenticationFailed(
                "token", "access token claims are malformed"
            ) from None
        return access, times
