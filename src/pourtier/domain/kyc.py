"""Know-your-customer: the verification state machine, its log and its providers.

A user's case moves not_started -> pending (an applicant exists, waiting for the
user's documents) -> in_review -> verified | rejected. A `retry` rejection
lets the user submit again; a `final` one does not. A provider may revise its
decision (verified -> rejected for fraud). Every transition is kept,
append-only, with its source, time and reason.

Providers deliver events late, twice and out of order: each carries its own
time and id. An event older than the case's current status is logged but
changes nothing; an id already seen is dropped (the repository's unique index).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from pourtier.domain.errors import Conflict, InvalidInput
from pourtier.domain.users import KycStatus

ADULT_AGE = 18
LEGAL_NAME_MAX_LENGTH = 200
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class RejectionType(StrEnum):
    RETRY = "retry"
    FINAL = "final"


_S = KycStatus
_MOVES: dict[KycStatus, frozenset[KycStatus]] = {
    _S.NOT_STARTED: frozenset({_S.PENDING, _S.IN_REVIEW}),
    _S.PENDING: frozenset({_S.IN_REVIEW, _S.VERIFIED, _S.REJECTED}),
    _S.IN_REVIEW: frozenset({_S.PENDING, _S.VERIFIED, _S.REJECTED}),
    _S.VERIFIED: frozenset({_S.REJECTED}),
    _S.REJECTED: frozenset({_S.PENDING, _S.IN_REVIEW, _S.VERIFIED}),
}
"""Every transition a case may make; a final rejection allows only a revision."""


def may_move(status: KycStatus, rejection: RejectionType | None, to: KycStatus) -> bool:
    if status is _S.REJECTED and rejection is RejectionType.FINAL:
        return to is _S.VERIFIED
    return to in _MOVES[status]


@dataclass(frozen=True)
class PersonalDetails:
    """What a user submits to the manual provider; kept encrypted, never logged."""

    legal_name: str
    date_of_birth: date
    country: str

    def __repr__(self) -> str:  # never in a log line or a traceback
        return "PersonalDetails(<redacted>)"

    @classmethod
    def parse(
        cls, legal_name: str, date_of_birth: str, country: str, today: date
    ) -> PersonalDetails:
        name = " ".join(legal_name.split())
        if not name or len(name) > LEGAL_NAME_MAX_LENGTH or "\x00" in name:
            raise InvalidInput(
                f"legal_name must be 1 to {LEGAL_NAME_MAX_LENGTH} characters"
            )
        try:
            born = date.fromisoformat(date_of_birth)
        except ValueError:
            raise InvalidInput("date_of_birth must be a date, YYYY-MM-DD") from None
        if len(date_of_birth) != 10:
            raise InvalidInput("date_of_birth must be a date, YYYY-MM-DD")
        if born.year < 1900 or _age(born, today) < ADULT_AGE:
            raise InvalidInput(f"date_of_birth must be an adult's ({ADULT_AGE}+)")
        code = country.strip().upper()
        if not _COUNTRY.match(code):
            raise InvalidInput("country must be an ISO 3166-1 alpha-2 code, like FR")
        return cls(name, born, code)

    def to_json(self) -> dict[str, str]:
        return {
            "legal_name": self.legal_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "country": self.country,
        }


def _age(born: date, today: date) -> int:
    had_birthday = (today.month, today.day) >= (born.month, born.day)
    return today.year - born.year - (0 if had_birthday else 1)


@dataclass(frozen=True)
class KycEvent:
    """One transition as it happened: append-only."""

    user_id: uuid.UUID
    status: KycStatus
    occurred_at: datetime
    source: str
    """`provider:<name>`, `operator:<wallet>` or `user`."""
    recorded_at: datetime
    event_id: str | None = None
    rejection_type: RejectionType | None = None
    reason: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class KycCase:
    """A user's verification as it stands."""

    user_id: uuid.UUID
    provider: str
    created_at: datetime
    updated_at: datetime
    status: KycStatus = KycStatus.NOT_STARTED
    status_at: datetime | None = None
    """The time of the event that set `status`: older events change nothing."""
    applicant_id: str | None = None
    rejection_type: RejectionType | None = None
    reason: str | None = None
    personal_data: bytes | None = None
    """The manual provider's details, encrypted."""

    def apply(self, event: KycEvent) -> bool:
        """Move to the event's status; False if it is older than the current
        one or changes nothing. Conflict if the machine does not allow it."""
        if self.status_at is not None and event.occurred_at < self.status_at:
            return False
        same = (
            event.status is self.status and event.rejection_type is self.rejection_type
        )
        if same:
            return False
        if event.status is not self.status and not may_move(
            self.status, self.rejection_type, event.status
        ):
            raise Conflict(
                f"KYC cannot go from {self.status} to {event.status}"
                + (" (final rejection)" if self.is_final else "")
            )
        self.status = event.status
        self.status_at = event.occurred_at
        self.rejection_type = event.rejection_type
        self.reason = event.reason
        self.updated_at = event.recorded_at
        return True

    @property
    def is_final(self) -> bool:
        return (
            self.status is KycStatus.REJECTED
            and self.rejection_type is RejectionType.FINAL
        )


@dataclass(frozen=True)
class ProviderEvent:
    """A provider's word on an applicant: from a webhook or a status read."""

    user_id: uuid.UUID
    status: KycStatus
    occurred_at: datetime
    event_id: str
    applicant_id: str | None = None
    rejection_type: RejectionType | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ProviderStart:
    """What starting a check with a provider gives the user."""

    status: KycStatus
    applicant_id: str | None = None
    sdk_token: str | None = None


class KycProvider(Protocol):
    """Who checks identities: `manual` (operators) or an outside service."""

    @property
    def name(self) -> str: ...

    async def start(self, user_id: uuid.UUID) -> ProviderStart:
        """Open (or reopen) the user's applicant; idempotent."""
        ...

    async def current(
        self, user_id: uuid.UUID, applicant_id: str
    ) -> ProviderEvent | None:
        """The applicant's decision as the provider has it now (reconciliation);
        None while there is nothing to apply."""
        ...

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """A webhook's event once its signature over `body` checks out
        (AuthenticationFailed otherwise); None for events that change nothing."""
        ...


class PersonalDataVault(Protocol):
    """Encrypts personal details at rest."""

    def seal(self, details: PersonalDetails) -> bytes: ...

    def open(self, sealed: bytes) -> PersonalDetails: ...


class KycRepository(Protocol):
    async def get(
        self, user_id: uuid.UUID, *, for_update: bool = False
    ) -> KycCase | None: ...

    async def add(self, case: KycCase) -> None: ...

    async def save(self, case: KycCase) -> None: ...

    async def add_event(self, event: KycEvent) -> bool:
        """Append; False if an event with this `event_id` is already there."""
        ...

    async def events(self, user_id: uuid.UUID) -> list[KycEvent]: ...

    async def queue(
        self, status: KycStatus, limit: int, offset: int
    ) -> Sequence[KycCase]:
        """Cases in `status`, oldest first (by when they got there)."""
        ...

    async def stale(
        self, provider: str, before: datetime, limit: int
    ) -> Sequence[KycCase]:
        """Cases of `provider` pending or in review since before `before`."""
        ...
