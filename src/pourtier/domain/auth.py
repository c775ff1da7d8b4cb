"""Sessions and refresh tokens, and the ports sign-in writes through.

The sign-in message and its nonce are in `sign_in`."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pourtier.domain.errors import AuthenticationFailed, NotFound
from pourtier.domain.sign_in import Nonce
from pourtier.domain.users import User

MAX_SIGNATURE_CHARS = 128
REFRESH_GRACE = timedelta(seconds=10)


def hash_token(token: str) -> str:
    """Refresh tokens are stored only as SHA-256: a leaked table grants nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class AuthSession:
    """One signed-in device; every refresh token of its family belongs to it."""

    user_id: uuid.UUID
    created_at: datetime
    ip_address: str | None = None
    user_agent: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    last_used_at: datetime | None = None
    """When a refresh token of the session was last redeemed; None until then.

    Stamped on refresh only, not per request, so the hot reads write nothing.
    """


@dataclass
class RefreshToken:
    session_id: uuid.UUID
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    parent_id: uuid.UUID | None = None
    used_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def may_redeem_again(self, children: Sequence[RefreshToken], now: datetime) -> bool:
        """Whether a token already used may be redeemed once more.

        Two tabs refreshing together present the same token: the second is
        honoured within REFRESH_GRACE of the first, while the first's child is
        unused, and only once. Any further use is a replay, so a stolen token
        cannot start a parallel chain that reuse detection never sees.
        """
        return (
            self.used_at is not None
            and now - self.used_at <= REFRESH_GRACE
            and len(children) == 1
            and children[0].used_at is None
        )


@dataclass(frozen=True)
class ClientInfo:
    """Who is asking, recorded with sessions and legal acceptances as evidence."""

    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    wallet_address: str
    session_id: uuid.UUID
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class LoginRecord:
    """What one login statement found: the account it signed in, or why not."""

    user: User | None
    nonce: Nonce | None
    """The nonce as it was before the statement; None if never issued."""
    account_exists: bool

    def signed_in(self, wallet_address: str, now: datetime) -> User:
        """The account, or the refusal naming the first check that failed:
        the nonce's checks, then the account, as for every signed request."""
        if self.user is not None:
            return self.user
        if self.nonce is None:
            raise AuthenticationFailed("nonce", "nonce was not issued by this server")
        self.nonce.check_usable(wallet_address, now)
        if not self.account_exists:
            raise NotFound("no account for this wallet; register first")
        # Usable when read, gone when consumed: a concurrent login took it.
        raise AuthenticationFailed("nonce", "nonce has already been used")


class SignInStore(Protocol):
    """A sign-in's writes, each one statement that commits on its own."""

    async def add_nonce(self, nonce: Nonce) -> None: ...

    async def log_in(
        self, wallet_address: str, nonce: str, token: RefreshToken, client: ClientInfo
    ) -> LoginRecord:
        """All or nothing, at `token.issued_at`: consume the nonce if it is
        the wallet's or no one's yet (binding it), for signing in, unused,
        unexpired and the wallet (the primary or a linked one) has an account;
        stamp the account's last login; open session `token.session_id` with
        `token` as its first refresh token."""
        ...


class NonceRepository(Protocol):
    async def get(self, value: str) -> Nonce | None: ...

    async def consume(self, value: str, wallet_address: str, now: datetime) -> bool:
        """Atomically mark the nonce used by the wallet (binding it if it was
        no one's); False if it was not usable by that wallet (its purpose was
        checked when it was read, and never changes)."""
        ...

    async def delete_expired(self, before: datetime) -> int: ...


class SessionRepository(Protocol):
    async def add_session(self, session: AuthSession) -> None: ...

    async def get_session(self, session_id: uuid.UUID) -> AuthSession | None: ...

    async def revoke_session(
        self, session_id: uuid.UUID, now: datetime, reason: str
    ) -> None: ...

    async def revoke_user_sessions(
        self, user_id: uuid.UUID, now: datetime, reason: str
    ) -> list[uuid.UUID]: ...

    async def sessions_of(self, user_id: uuid.UUID, limit: int) -> list[AuthSession]:
        """The user's sessions, newest first, ended ones included."""
        ...

    async def live_sessions_of(
        self, user_id: uuid.UUID, limit: int
    ) -> list[AuthSession]:
        """The user's sessions not ended, newest first."""
        ...

    async def touch_session(self, session_id: uuid.UUID, now: datetime) -> bool:
        """Stamp the session's `last_used_at` unless it has ended; whether it
        had not (a logout committed meanwhile is seen here)."""
        ...

    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def refresh_token_for_update(self, token_hash: str) -> RefreshToken | None:
        """Load and row-lock, so concurrent refreshes of one token serialise."""
        ...

    async def mark_refresh_token_used(
        self, token_id: uuid.UUID, now: datetime
    ) -> None: ...

    async def children_of(self, token_id: uuid.UUID) -> list[RefreshToken]:
        """The tokens issued by redeeming `token_id`."""
        ...

    async def count_users_with_live_sessions(self, now: datetime) -> int: ...


class SignatureVerifier(Protocol):
    def verify(self, wallet_address: str, message: bytes, signature: str) -> None:
        """Raise AuthenticationFailed unless the wallet signed `message`."""
        ...


class AccessTokenCodec(Protocol):
    expires_in_seconds: int

    def issue(self, user: User, session_id: uuid.UUID, now: datetime) -> str: ...

    def decode(self, token: str) -> AccessClaims: ...
