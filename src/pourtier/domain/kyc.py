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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from pourtier.domain.errors import Conflict, InvalidInput, PermissionDenied
from pourtier.domain.money import format_usdc
from pourtier.domain.users import KycStatus

ADULT_AGE = 18
LEGAL_NAME_MAX_LENGTH = 200
REASON_MAX_LENGTH = 500
"""A decision's reason is cut to this (the column's width)."""
_ASSIGNED = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL
    BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV
    CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD
    GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK
    LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW
    MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR
    PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS
    ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY
    UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_ASSIGNED.split())
"""The 249 officially assigned ISO 3166-1 alpha-2 codes."""
_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class KycRequired(PermissionDenied):
    """The action needs a verified KYC."""

    def __init__(self, detail: str, status: KycStatus) -> None:
        super().__init__(detail)
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"kyc_status": self.status.value, "requirement": "kyc"}


NO_LIMIT = 2**64  # more than any u64 amount


class KycAction(StrEnum):
    WITHDRAW = "withdraw"
    SUBSCRIBE = "subscribe"
    PRO = "pro"
    """Subscribing to, or upgrading to, the Pro plan."""


@dataclass(frozen=True)
class KycPolicy:
    """What needs a verified KYC: configuration, applied in the use cases."""

    unverified_deposit_limit: int = NO_LIMIT
    """Base units of deposits a user may have before KYC is verified."""
    required_for: frozenset[KycAction] = frozenset()

    def check(self, status: KycStatus, action: KycAction) -> None:
        if action in self.required_for and status is not KycStatus.VERIFIED:
            raise KycRequired(f"{action} needs a verified KYC", status)

    def check_deposit(self, status: KycStatus, deposited: int, amount: int) -> None:
        """`deposited`: the user's deposits confirmed or on their way."""
        if status is KycStatus.VERIFIED:
            return
        if deposited + amount > self.unverified_deposit_limit:
            raise KycRequired(
                f"deposits past {format_usdc(self.unverified_deposit_limit)} USDC "
                "need a verified KYC",
                status,
            )


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
        return cls(
            parse_legal_name(legal_name),
            parse_date_of_birth(date_of_birth, today),
            parse_country(country),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "legal_name": self.legal_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "country": self.country,
        }


def parse_legal_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > LEGAL_NAME_MAX_LENGTH or "\x00" in name:
        raise InvalidInput(
            f"legal_name must be 1 to {LEGAL_NAME_MAX_LENGTH} characters"
        )
    return name


def parse_date_of_birth(value: str, today: date) -> date:
    try:
        # fromisoformat alone also takes week dates ("1990-W16-6")
        born = date.fromisoformat(value) if _YYYY_MM_DD.fullmatch(value) else None
    except ValueError:
        born = None
    if born is None:
        raise InvalidInput("date_of_birth must be a date, YYYY-MM-DD")
    if born.year < 1900 or _age(born, today) < ADULT_AGE:
        raise InvalidInput(f"date_of_birth must be an adult's ({ADULT_AGE} or more)")
    return born


def parse_country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRIES:
        raise InvalidInput("country must be an ISO 3166-1 alpha-2 code, like FR")
    return code


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
        moves = event.status is not self.status or self.is_final
        if moves and not may_move(self.status, self.rejection_type, event.status):
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

    async def current(self, user_id: uuid.UUID, applicant_id: str) -> KycEvent | None:
        """The applicant's decision as the provider has it now (reconciliation),
        with the provider's id and time for it; None while there is nothing."""
        ...

    def webhook(self, body: bytes, headers: Mapping[str, str]) -> KycEvent | None:
        """A webhook's event once its signature over `body` checks out
        (AuthenticationFailed otherwise); None for events that change nothing."""
        ...

    async def aclose(self) -> None:
        """Release connections (the service is stopping)."""
        ...


class PersonalDataVault(Protocol):
    """Encrypts personal details at rest."""

    def seal(self, details: PersonalDetails) -> bytes: ...

    def open(self, sealed: bytes) -> PersonalDetails: ...


class KycRepository(Protocol):
    async def get(
        self, user_id: uuid.UUID, *, for_update: bool = False
    ) -> KycCase | None: ...

    async def save(self, case: KycCase) -> None:
        """Insert or update."""
        ...

    async def add_event(self, event: KycEvent) -> bool:
        """Append; False if an event with this `event_id` is already there."""
        ...

    async def events(self, user_id: uuid.UUID) -> list[KycEvent]: ...

    async def queue(self, status: KycStatus, limit: int, offset: int) -> list[KycCase]:
        """Cases in `status`, oldest first (by when they got there)."""
        ...

    async def stale(self, provider: str, before: datetime, limit: int) -> list[KycCase]:
        """Cases of `provider` pending or in review since before `before`."""
        ...
