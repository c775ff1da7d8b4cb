"""Sign-In-With-Solana messages, nonces, sessions and refresh tokens.

The message follows the CAIP-122 / EIP-4361 text layout with a Solana address.
Every field the wallet signs is checked against what this server expects, so
a signature obtained for another site, cluster or wallet is worthless here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pourtier.domain.errors import AuthenticationFailed, NotFound
from pourtier.domain.sign_in_input import LABELS, RESOURCES, SignInInput
from pourtier.domain.users import User

MAX_SIGNATURE_CHARS = 128
CLOCK_SKEW = timedelta(seconds=60)
NONCE_TTL = timedelta(minutes=5)
REFRESH_GRACE = timedelta(seconds=10)
DEFAULT_STATEMENT = (
    "Sign in to Pourtier. This request will not trigger a blockchain "
    "transaction or cost any fees."
)
LINK_STATEMENT = "Link this wallet to your Pourtier account"
_ISSUED = frozenset(
    ("statement", "uri", "version", "chain_id", "nonce", "issued_at", "expiration_time")
)
"""The fields of every message this server issues; others are refused."""
_LABEL = LABELS | {"statement": "statement", "resources": RESOURCES}
_NONCE_RE = re.compile(r"[A-Za-z0-9]{8,64}")


class NoncePurpose(StrEnum):
    """What a nonce may prove: a sign-in, or a wallet's link to an account.

    Each purpose has its own statement, and a nonce is good for its own
    purpose only, so a message signed to sign in can never link a wallet,
    nor a link message sign anyone in.
    """

    SIGN_IN = "sign_in"
    LINK = "link"


def format_timestamp(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _parse_timestamp(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AuthenticationFailed(
            "message_format", f"{name} is not ISO 8601"
        ) from None
    if moment.tzinfo is None:
        raise AuthenticationFailed("message_format", f"{name} has no time zone")
    return moment


def new_nonce() -> str:
    """128 random bits, hex: alphanumeric as EIP-4361 requires."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class SignInMessage:
    """A sign-in text with every field this server issues, and none other."""

    domain: str
    address: str
    statement: str
    uri: str
    version: str
    chain_id: str
    nonce: str
    issued_at: datetime
    expiration_time: datetime

    def as_input(self) -> SignInInput:
        """The same fields, timestamps as the text writes them."""
        values: dict[str, Any] = vars(self) | {
            "issued_at": format_timestamp(self.issued_at),
            "expiration_time": format_timestamp(self.expiration_time),
        }
        return SignInInput(**values)

    def render(self) -> str:
        return self.as_input().render()

    @classmethod
    def parse(cls, text: str) -> SignInMessage:
        """Parse strictly (see `SignInInput.parse`), then insist on the
        fields we issue: a wallet must sign all it was given, add nothing."""
        present = SignInInput.parse(text).present()
        for name in _ISSUED - present.keys():
            raise AuthenticationFailed(
                "message_format", f"message has no '{_LABEL[name]}'"
            )
        for name in present.keys() - _ISSUED - {"domain", "address"}:
            raise AuthenticationFailed(
                "message_format",
                f"message has '{_LABEL[name]}', which this server never issues",
            )
        values: dict[str, Any] = present
        if not _NONCE_RE.fullmatch(values["nonce"]):
            raise AuthenticationFailed(
                "message_format", "Nonce must be 8 to 64 ASCII letters or digits"
            )
        return cls(
            **values
            | {
                "issued_at": _parse_timestamp(values["issued_at"], "Issued At"),
                "expiration_time": _parse_timestamp(
                    values["expiration_time"], "Expiration Time"
                ),
            }
        )


@dataclass(frozen=True)
class SignInPolicy:
    """What a sign-in message must say to be accepted by this deployment."""

    domain: str
    uri: str
    chain_id: str
    statement: str = DEFAULT_STATEMENT
    link_statement: str = LINK_STATEMENT
    nonce_ttl: timedelta = NONCE_TTL
    clock_skew: timedelta = CLOCK_SKEW

    def statement_for(self, purpose: NoncePurpose) -> str:
        if purpose == NoncePurpose.LINK:
            return self.link_statement
        return self.statement

    def message_for(
        self,
        wallet_address: str,
        nonce: str,
        now: datetime,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> SignInMessage:
        return SignInMessage(
            domain=self.domain,
            address=wallet_address,
            statement=self.statement_for(purpose),
            uri=self.uri,
            version="1",
            chain_id=self.chain_id,
            nonce=nonce,
            issued_at=now,
            expiration_time=now + self.nonce_ttl,
        )

    def input_for(self, nonce: Nonce) -> SignInInput:
        """What to ask a wallet to sign with a nonce just issued, with the
        exact strings `check` will see: the address only if it is bound."""
        issued = self.message_for(
            nonce.wallet_address or "", nonce.value, nonce.issued_at, nonce.purpose
        )
        return replace(issued.as_input(), address=nonce.wallet_address)

    def check(
        self,
        message: SignInMessage,
        wallet_address: str,
        now: datetime,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> None:
        """Raise AuthenticationFailed naming the first field that is wrong.

        The statement is what the wallet showed its owner: a signature over
        another one was not given for this purpose."""
        if message.address != wallet_address:
            raise AuthenticationFailed(
                "address", "message address does not match wallet_address"
            )
        if message.domain != self.domain:
            raise AuthenticationFailed("domain", "message is for another domain")
        if message.statement != self.statement_for(purpose):
            raise AuthenticationFailed(
                "statement", f"message statement is not the {purpose.value} one"
            )
        if message.uri != self.uri:
            raise AuthenticationFailed("uri", "message is for another URI")
        if message.version != "1":
            raise AuthenticationFailed("version", "message version must be 1")
        if message.chain_id != self.chain_id:
            raise AuthenticationFailed("chain_id", "message is for another cluster")
        if message.issued_at > now + self.clock_skew:
            raise AuthenticationFailed("issued_at", "message is issued in the future")
        if message.expiration_time <= now:
            raise AuthenticationFailed("expiration_time", "message has expired")


@dataclass
class Nonce:
    value: str
    wallet_address: str | None
    """None until first used: a Wallet Standard sign-in asks for a nonce
    before the wallet says its address; using it binds it."""
    issued_at: datetime
    expires_at: datetime
    consumed_at: datetime | None = None
    purpose: NoncePurpose = NoncePurpose.SIGN_IN

    def check_usable(
        self,
        wallet_address: str,
        now: datetime,
        purpose: NoncePurpose = NoncePurpose.SIGN_IN,
    ) -> None:
        """Used first: a nonce its first user bound is used up, for all."""
        if self.consumed_at is not None:
            raise AuthenticationFailed("nonce", "nonce has already been used")
        if self.wallet_address not in (None, wallet_address):
            raise AuthenticationFailed("nonce", "nonce was not issued to this wallet")
        if self.purpose != purpose:
            raise AuthenticationFailed(
                "nonce", f"nonce was issued for {self.purpose}, not {purpose}"
            )
        if self.consumed_at is not None:
            raise AuthenticationFailed("nonce", "nonce has already been used")
        if self.wallet_address not in (None, wallet_address):
            raise AuthenticationFailed("nonce", "nonce was not issued to this wallet")
        if self.expires_at <= now:
            raise AuthenticationFailed("nonce", "nonce has expired")


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
