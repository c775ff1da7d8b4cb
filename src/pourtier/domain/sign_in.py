"""Sign-In-With-Solana: the message, what this deployment insists it says,
and the nonce that makes each one single-use.

The message follows the CAIP-122 / EIP-4361 text layout with a Solana address
(Wallet Standard's `signIn` format, `sign_in_input`). Every field the wallet
signs is checked against what this server expects, so a signature obtained
for another site, cluster, wallet or purpose is worthless here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pourtier.domain.errors import AuthenticationFailed
from pourtier.domain.sign_in_input import LABELS, RESOURCES, SignInInput
from pourtier.domain.sign_in_transaction import unsigned_sign_in_transaction

CLOCK_SKEW = timedelta(seconds=60)
NONCE_TTL = timedelta(minutes=5)
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
        if self.expires_at <= now:
            raise AuthenticationFailed("nonce", "nonce has expired")


@dataclass(frozen=True)
class IssuedNonce:
    nonce: Nonce
    sign_in_input: SignInInput
    """What the wallet is asked to sign, with the address if it is known."""

    @property
    def message(self) -> str | None:
        """The text to sign, when the wallet is known; None when the wallet
        builds it from `sign_in_input` with its own address."""
        if self.sign_in_input.address is None:
            return None
        return self.sign_in_input.render()

    def transaction(self) -> bytes | None:
        """The unsigned sign-in transaction carrying `message`, for wallets
        that sign only transactions; None when the wallet is not known."""
        if self.message is None or self.nonce.wallet_address is None:
            return None
        return unsigned_sign_in_transaction(self.nonce.wallet_address, self.message)
