"""Users: a wallet is the identity; profile fields are optional extras."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pourtier.domain.base58 import b58decode
from pourtier.domain.errors import InvalidInput

WALLET_ADDRESS_MAX_LENGTH = 44
DISPLAY_NAME_MAX_LENGTH = 64
EMAIL_MAX_LENGTH = 254
_EMAIL_RE = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")


def validate_wallet_address(value: str) -> str:
    """A Solana address is base58 of exactly 32 bytes (an ed25519 public key)."""
    if not 32 <= len(value) <= WALLET_ADDRESS_MAX_LENGTH:
        raise InvalidInput("wallet_address must be a base58 Solana address")
    try:
        raw = b58decode(value)
    except ValueError:
        raise InvalidInput("wallet_address must be a base58 Solana address") from None
    if len(raw) != 32:
        raise InvalidInput("wallet_address must decode to 32 bytes")
    return value


def validate_display_name(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if not stripped:
        raise InvalidInput("display_name must not be blank")
    if "\x00" in stripped:
        raise InvalidInput("display_name must not contain NUL characters")
    if len(stripped) > DISPLAY_NAME_MAX_LENGTH:
        raise InvalidInput(
            f"display_name must be at most {DISPLAY_NAME_MAX_LENGTH} characters"
        )
    return stripped


def validate_email(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    if len(stripped) > EMAIL_MAX_LENGTH or not _EMAIL_RE.match(stripped):
        raise InvalidInput("email is not a valid address")
    return stripped


class Role(StrEnum):
    """What a user may do beyond their own data: `admin` operates the service."""

    USER = "user"
    ADMIN = "admin"


class KycStatus(StrEnum):
    """Where the user's identity check stands (the workflow: domain/kyc.py)."""

    NOT_STARTED = "not_started"
    PENDING = "pending"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass
class User:
    wallet_address: str
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    display_name: str | None = None
    email: str | None = None
    kyc_status: KycStatus = KycStatus.NOT_STARTED
    last_login_at: datetime | None = None
    role: Role = Role.USER

    @classmethod
    def register(cls, wallet_address: str, now: datetime) -> User:
        return cls(
            wallet_address=validate_wallet_address(wallet_address),
            created_at=now,
            updated_at=now,
            last_login_at=now,
        )

    def update_profile(self, changes: dict[str, str | None], now: datetime) -> None:
        """Apply only the fields present in `changes`; None clears a field."""
        if "display_name" in changes:
            self.display_name = validate_display_name(changes["display_name"])
        if "email" in changes:
            self.email = validate_email(changes["email"])
        self.updated_at = now

    def set_role(self, role: Role, now: datetime) -> bool:
        """Whether the stored role changed (granting it twice changes nothing)."""
        if self.role == role:
            return False
        self.role = role
        self.updated_at = now
        return True


@dataclass(frozen=True)
class UserWallet:
    """A wallet that signs in to an account: its primary one (the escrow's
    owner, `User.wallet_address`) or one linked to it since. A wallet belongs
    to one account at most."""

    wallet_address: str
    user_id: uuid.UUID
    linked_at: datetime

    def is_primary_of(self, user: User) -> bool:
        return self.wallet_address == user.wallet_address


@dataclass(frozen=True)
class RolePolicy:
    """Who holds which role: the stored one, or a wallet named in configuration.

    Configured wallets are admins whatever their row says, so an operator
    cannot lock every admin out by revoking them all.
    """

    admin_wallets: frozenset[str] = frozenset()

    def is_admin(self, user: User) -> bool:
        return user.role == Role.ADMIN or user.wallet_address in self.admin_wallets

    def roles(self, user: User) -> tuple[Role, ...]:
        """The roles beyond a plain user's: empty for most."""
        return (Role.ADMIN,) if self.is_admin(user) else ()


class UserRepository(Protocol):
    async def get(self, user_id: uuid.UUID) -> User | None: ...

    async def get_by_wallet(self, wallet_address: str) -> User | None:
        """The account the wallet signs in to: its primary or a linked one."""
        ...

    async def add(self, user: User) -> None:
        """The account with its primary wallet; `Conflict` if the wallet is
        any account's already."""
        ...

    async def wallets_of(self, user_id: uuid.UUID) -> list[UserWallet]:
        """The account's wallets as listed: the primary, then by when linked."""
        ...

    async def link_wallet(self, wallet: UserWallet) -> None:
        """`Conflict` if the wallet is any account's already (one constraint
        decides, so of concurrent links of one wallet exactly one wins)."""
        ...

    async def unlink_wallet(self, user_id: uuid.UUID, wallet_address: str) -> bool:
        """Whether the user had that wallet (the caller keeps the primary);
        any text may be asked, whatever could never be a wallet is not one."""
        ...

    async def save(self, user: User) -> None: ...

    async def search(self, query: str | None, limit: int, offset: int) -> list[User]:
        """Newest first; `query` matches an id, an email (ignoring case) or a
        wallet, primary or linked, exactly or by prefix (ignoring case)."""
        ...
